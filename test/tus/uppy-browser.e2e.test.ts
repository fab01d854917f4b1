import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { Asset, Upload } from '../../src/db/entities/index.js';
import type { UploadStep } from '../../src/domain/upload/upload-faults.js';
import { PART_SIZE } from '../../src/domain/upload/upload.service.js';
import { apiClient } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Debian's Chromium (.ci/run installs it); playwright-core downloads no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** The Uppy snippet exactly as docs/uploads.md shows it: the code block under "### Uppy". */
function docsSnippet(): string {
  const doc = readFileSync(new URL('../../docs/uploads.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('### Uppy\n'));
  const block = /```js\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error('docs/uploads.md has no js block under "### Uppy"');
  return block[1]!;
}

/**
 * A web app on its own origin, as a family's site would be: its page defines what the snippet
 * takes from the app (API, chestId, gql), maps the snippet's imports onto Uppy's browser bundle,
 * and runs the snippet as a module.
 */
function webApp({ api, chestId, token }: { api: string; chestId: string; token: string }): RequestListener {
  const bundle = readFileSync(new URL('../../node_modules/uppy/dist/uppy.min.mjs', import.meta.url));
  const files: Record<string, { type: string; body: string | Buffer }> = {
    '/': {
      type: 'text/html',
      body: `<!doctype html><meta charset="utf-8"><title>family site</title>
<script type="importmap">{ "imports": { "@uppy/core": "/uppy-core.js", "@uppy/tus": "/uppy-tus.js" } }</script>
<script>
  const API = ${JSON.stringify(api)};
  const chestId = ${JSON.stringify(chestId)};
  async function gql(query, variables) {
    const res = await fetch(API + '/graphql', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + ${JSON.stringify(token)} },
      body: JSON.stringify({ query, variables }),
    });
    return res.json();
  }
</script>
<script type="module" src="/snippet.js"></script>`,
    },
    '/uppy.min.mjs': { type: 'text/javascript', body: bundle },
    '/uppy-core.js': { type: 'text/javascript', body: `export { Uppy as default } from '/uppy.min.mjs';` },
    '/uppy-tus.js': { type: 'text/javascript', body: `export { Tus as default } from '/uppy.min.mjs';` },
    // The test drives the snippet's uppy from outside, so the module hands it to the page.
    '/snippet.js': { type: 'text/javascript', body: `${docsSnippet()}\nwindow.uppy = uppy;\n` },
  };
  return (req, res) => {
    const file = files[req.url ?? ''];
    if (!file) return void res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': file.type }).end(file.body);
  };
}

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

/**
 * The docs' Uppy snippet in headless Chromium, from a page on another origin than the API (so
 * through CORS): one upload with a pause and a resume, checked against the stored bytes.
 */
describe('Uppy in Chromium against the tus route, across origins', () => {
  let server: TestServer;
  let context: BrowserContext;
  let profile: string;
  const sites: Server[] = [];
  let allowedOrigin: string;
  let otherOrigin: string;
  let token: string;
  let chestId: string;
  /** Requests the pages sent anywhere but loopback (all refused). */
  const offLoopback: string[] = [];
  /** What the server does halfway through each staging part it receives (the upload-faults seam); nothing unless a test says. */
  let midPart: () => void | Promise<void> = () => undefined;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium`);
    // Ports first: the API is told which web origin it serves before it starts.
    const allowedSite = createServer();
    const otherSite = createServer();
    allowedOrigin = await listen(allowedSite);
    otherOrigin = await listen(otherSite);
    server = await startTestServer({ CORS_ORIGINS: allowedOrigin }, { uploadFaults: (step: UploadStep) => (step === 'mid-part' ? midPart() : undefined) });
    const api = server.app.url();
    const client = apiClient(api);
    token = await client.signUp('uppy@example.com');
    chestId = await client.createChest(token);
    for (const site of [allowedSite, otherSite]) {
      site.on('request', webApp({ api, chestId, token }));
      sites.push(site);
    }
    profile = await mkdtemp(join(tmpdir(), 'dmc-uppy-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    await context.route(
      (url) => url.hostname !== '127.0.0.1',
      (route) => {
        offLoopback.push(route.request().url());
        return route.abort('blockedbyclient');
      },
    );
  });
  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await Promise.all(sites.map((s) => new Promise((r) => s.close(r))));
    await server?.stop();
  });

  async function open(origin: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => 'uppy' in globalThis);
    return page;
  }

  /*
   * The pause comes while the server is inside the second part, so the first is recorded. A pause
   * on Uppy's upload-progress reaching PART_SIZE was a race: that event counts bytes the browser
   * handed to its socket, not bytes the server stored. A server reading slower than Chromium sends
   * (a loaded machine) still had the part's last bytes unread when the pause closed the connection;
   * Node could then abort the request before those bytes reached the reader, the unfinished part was
   * dropped (as it must be), and the server held 0 bytes.
   */
  it('uploads a 20 MiB photo, paused after its first part and resumed from the offset the server holds', async () => {
    const bytes = Buffer.concat([await jpeg(800, 600, '#b47'), randomBytes(2 * PART_SIZE + 4321)]);
    const page = await open(allowedOrigin);
    const patches: { offset: number }[] = [];
    /** Access-Control-Allow-Origin of each answer the page read from the API. */
    const allowedBy = new Set<string>();
    let inFlight = 0;
    page.on('request', (req) => {
      if (req.method() !== 'PATCH') return;
      patches.push({ offset: Number(req.headers()['upload-offset']) });
      inFlight += 1;
    });
    const ended = (req: { method(): string }) => void (req.method() === 'PATCH' && (inFlight -= 1));
    page.on('requestfinished', ended);
    page.on('requestfailed', ended);
    page.on('response', (res) => {
      if (new URL(res.url()).origin === server.app.url()) allowedBy.add(res.headers()['access-control-allow-origin'] ?? 'none');
    });

    // The server stops halfway through the second part (the first is recorded) until the pause is over in the browser.
    let parts = 0;
    let letGo!: () => void;
    const heldUp = new Promise<void>((r) => (letGo = r));
    onTestFinished(() => {
      midPart = () => undefined;
      letGo(); // a failed assertion must not leave the server waiting
    });
    const inSecondPart = new Promise<void>((reached) => {
      midPart = () => {
        parts += 1;
        if (parts !== 2) return;
        reached();
        return heldUp;
      };
    });

    // In the page: add the file, start it, report when done.
    await page.evaluate(
      ({ data }) => {
        type Uppy = {
          addFile(f: object): string;
          upload(): Promise<unknown>;
          on(event: string, fn: (...args: any[]) => void): void;
        };
        const g = globalThis as unknown as { uppy: Uppy; finished?: Promise<{ url: string }>; [k: string]: unknown };
        const bin = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const id = g.uppy.addFile({ name: 'grandma-at-the-lake.jpg', type: 'image/jpeg', data: new Blob([bin], { type: 'image/jpeg' }) });
        g.fileId = id;
        g.finished = new Promise((resolve, reject) => {
          g.uppy.on('upload-success', (_f: unknown, r: { uploadURL: string }) => resolve({ url: r.uploadURL }));
          g.uppy.on('upload-error', (_f: unknown, e: Error) => reject(new Error(String(e))));
        });
        void g.uppy.upload();
      },
      { data: bytes.toString('base64') },
    );
    await inSecondPart;
    const pausedIt = await page.evaluate(() => {
      const g = globalThis as unknown as { uppy: { pauseResume(id: string): boolean }; fileId: string };
      return g.uppy.pauseResume(g.fileId);
    });
    expect(pausedIt).toBe(true); // pauseResume answers whether the file is paused now (undefined once complete)
    // Paused: the PATCH the pause cut is over in the browser; then the server goes on with it,
    // finds it cut, keeps the whole parts it holds and lets go of the ticket.
    await expect.poll(() => inFlight, { timeout: 10_000 }).toBe(0);
    midPart = () => undefined;
    letGo();
    const upload = await server.db.orm.em.fork().findOneOrFail(Upload, { filename: 'grandma-at-the-lake.jpg' });
    await expect.poll(async () => (await server.db.orm.em.fork().findOneOrFail(Upload, { id: upload.id })).leaseToken, { timeout: 10_000, interval: 20 }).toBeNull();
    const held = (await server.db.orm.em.fork().findOneOrFail(Upload, { id: upload.id })).receivedBytes;
    expect(held).toBeGreaterThanOrEqual(PART_SIZE);
    expect(held % PART_SIZE).toBe(0);
    expect(held).toBeLessThan(bytes.length);
    const sentBeforeResume = patches.length;

    await page.evaluate(() => {
      const g = globalThis as unknown as { uppy: { pauseResume(id: string): boolean }; fileId: string };
      g.uppy.pauseResume(g.fileId);
    });
    const { url } = await page.evaluate(() => (globalThis as unknown as { finished: Promise<{ url: string }> }).finished);
    await page.close();

    expect(new URL(url).pathname).toBe(`/uploads/${upload.id}`);
    // The resumed upload started where the server was, so no stored byte went over the wire again.
    expect(patches[sentBeforeResume]?.offset).toBe(held);
    const row = await server.db.orm.em.fork().findOneOrFail(Upload, { id: upload.id }, { populate: ['asset'] });
    expect(row.status).toBe('COMPLETE');
    const asset = await server.db.orm.em.fork().findOneOrFail(Asset, { id: row.asset!.id });
    expect(asset.sha256).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(asset.filename).toBe('grandma-at-the-lake.jpg');
    // Every answer the page read (GraphQL, HEAD, PATCH) was one CORS let it read.
    expect([...allowedBy]).toEqual([allowedOrigin]);
    expect(offLoopback).toEqual([]);
  });

  it('removing a file during its upload terminates it on the server (tus DELETE): the upload is cancelled', async () => {
    const bytes = Buffer.concat([await jpeg(640, 480, '#4a7'), randomBytes(2 * PART_SIZE)]);
    const page = await open(allowedOrigin);
    /** Each DELETE the page sent, with its answer: a 409 while the cut PATCH still holds the ticket is retried. */
    const deletes: { path: string; status: number }[] = [];
    page.on('requestfinished', async (req) => {
      if (req.method() === 'DELETE') deletes.push({ path: new URL(req.url()).pathname, status: (await req.response())?.status() ?? 0 });
    });
    await page.evaluate(
      ({ data, partSize }) => {
        type Uppy = { addFile(f: object): string; upload(): Promise<unknown>; removeFile(id: string): void; on(event: string, fn: (...args: any[]) => void): void };
        const g = globalThis as unknown as { uppy: Uppy };
        const bin = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        const id = g.uppy.addFile({ name: 'not-this-one.jpg', type: 'image/jpeg', data: new Blob([bin], { type: 'image/jpeg' }) });
        let removed = false;
        g.uppy.on('upload-progress', (_f: unknown, p: { bytesUploaded: number }) => {
          if (removed || p.bytesUploaded < partSize) return;
          removed = true;
          g.uppy.removeFile(id);
        });
        void g.uppy.upload();
      },
      { data: bytes.toString('base64'), partSize: PART_SIZE },
    );
    await expect.poll(() => deletes.at(-1)?.status, { timeout: 15_000 }).toBe(204);
    await page.close();
    const upload = await server.db.orm.em.fork().findOneOrFail(Upload, { filename: 'not-this-one.jpg' });
    expect(new Set(deletes.map((d) => d.path))).toEqual(new Set([`/uploads/${upload.id}`]));
    expect(deletes.slice(0, -1).every((d) => d.status === 409)).toBe(true);
    expect(upload.status).toBe('FAILED');
    expect(await server.db.orm.em.fork().count(Asset, { filename: 'not-this-one.jpg' })).toBe(0);
  });

  it('a page on an origin CORS_ORIGINS does not list cannot read the API', async () => {
    const page = await open(otherOrigin);
    const outcome = await page.evaluate(async () => {
      const g = globalThis as unknown as { gql(q: string, v: object): Promise<unknown> };
      try {
        await g.gql('{ __typename }', {});
        return 'read';
      } catch (err) {
        return `refused: ${(err as Error).name}`;
      }
    });
    await page.close();
    expect(outcome).toBe('refused: TypeError');
  });
});
