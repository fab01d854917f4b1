import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topics } from '../../src/events/events.port.js';
import { apiClient, eventually } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** Debian's Chromium (.ci/run installs it); playwright-core downloads no browser of its own. */
const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);
const isLoopback = (url: URL | string) => {
  const u = typeof url === 'string' ? new URL(url) : url;
  // data: and blob: URLs never leave the page.
  return u.protocol === 'data:' || u.protocol === 'blob:' || LOOPBACK.has(u.hostname);
};

/**
 * The explorer at /graphql in a real browser, with every request that is not loopback refused:
 * its scripts come from the API itself, queries go over HTTP and subscriptions over the API's own
 * graphql-ws endpoint, credentials typed in its Headers tab.
 */
describe('the offline explorer: subscriptions over the API websocket, in Chromium', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let context: BrowserContext;
  let profile: string;
  /** Requests and websockets the page tried outside loopback (all refused). */
  const offLoopback: string[] = [];
  /** Subscriptions the server's bus has taken per topic. */
  const taken = new Map<string, number>();

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: the explorer test drives it through playwright-core (which downloads no browser). Install Debian's package: apt-get install -y chromium`);
    }
    // Introspection on, as docs/api.md "Query limits" tells explorer users to run it.
    server = await startTestServer({ GRAPHQL_INTROSPECTION: 'true' });
    api = apiClient(server.app.url());
    const bus = server.app.services.events;
    const subscribe = bus.subscribe.bind(bus);
    bus.subscribe = <T>(topic: string, signal?: AbortSignal) => {
      taken.set(topic, (taken.get(topic) ?? 0) + 1);
      return subscribe<T>(topic, signal);
    };
    profile = await mkdtemp(join(tmpdir(), 'dmc-chromium-'));
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    await context.route(
      (url) => !isLoopback(url),
      (route) => {
        offLoopback.push(route.request().url());
        return route.abort('blockedbyclient');
      },
    );
    await context.routeWebSocket(
      (url) => !isLoopback(url),
      (ws) => {
        offLoopback.push(ws.url());
        return ws.close();
      },
    );
  });
  afterAll(async () => {
    await context?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await server?.stop();
  });

  /** Waits until the bus holds n listeners for the chest: an event sent earlier would pass them by. */
  const listening = (chestId: string, n: number) => eventually(async () => ((taken.get(topics.chest(chestId)) ?? 0) >= n ? true : undefined), 20_000, 20);

  interface Opened {
    page: Page;
    /** URLs of the websockets the page opened, and the frames it sent on them. */
    sockets: { url: string; sent: string[] }[];
    /** Bodies the page POSTed to /graphql over HTTP. */
    posts: string[];
  }

  async function openExplorer(): Promise<Opened> {
    const page = await context.newPage();
    const opened: Opened = { page, sockets: [], posts: [] };
    page.on('websocket', (ws) => {
      const socket = { url: ws.url(), sent: [] as string[] };
      opened.sockets.push(socket);
      ws.on('framesent', (f) => socket.sent.push(String(f.payload)));
    });
    page.on('request', (req) => {
      if (req.method() === 'POST' && new URL(req.url()).pathname === '/graphql') opened.posts.push(req.postData() ?? '');
    });
    await page.goto(`${server.app.url()}/graphql`);
    await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
    return opened;
  }

  /** Puts text in one of the explorer's editors as a paste would (no auto-closed brackets). */
  async function fill(page: Page, editor: string, text: string) {
    await page.locator(`${editor} .CodeMirror`).click();
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.insertText(text);
  }

  async function setHeaders(page: Page, headers: Record<string, string>) {
    await page.locator('.graphiql-editor-tools').getByRole('button', { name: 'Headers' }).click();
    await fill(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden)', JSON.stringify(headers));
  }

  interface PageGlobals {
    document: { querySelector(selector: string): { CodeMirror?: { operationName?: string | null } } | null };
  }

  /** Types an operation and runs it, once the explorer has read it (it parses edits after a pause). */
  async function run(page: Page, operation: string, name: string) {
    await fill(page, '.graphiql-query-editor', operation);
    await page.waitForFunction((n) => {
      // Runs in the page (this project's TypeScript has no DOM types); CodeMirror 5 hangs its editor on the element.
      const editor = (globalThis as unknown as PageGlobals).document.querySelector('.graphiql-query-editor .CodeMirror');
      return editor?.CodeMirror?.operationName === n;
    }, name);
    await page.locator('.graphiql-execute-button').click();
  }

  const responseText = (page: Page) => page.locator('.graphiql-response').innerText();

  it('shows a memoryAdded event for a member signed in through the Headers tab, and runs queries over HTTP', async () => {
    const email = `explorer-${Date.now()}@example.test`;
    const token = await api.signUp(email);
    const chestId = await api.createChest(token, 'June Ellis');
    const { page, sockets, posts } = await openExplorer();
    await setHeaders(page, { Authorization: `Bearer ${token}` });

    // A query goes over HTTP with the header, as before.
    await run(page, `query Me { viewer { email } }`, 'Me');
    await expect.poll(() => responseText(page)).toContain(email);
    expect(posts.some((p) => p.includes('viewer'))).toBe(true);

    await run(page, `subscription Watch { memoryAdded(chestId: "${chestId}") { id mimeType } }`, 'Watch');
    await listening(chestId, 1);
    const assetId = await api.upload(token, chestId, await jpeg(), 'harbour.jpg', 'image/jpeg');

    await expect.poll(() => responseText(page), { timeout: 20_000 }).toContain(assetId);
    expect(await responseText(page)).toContain('image/jpeg');
    // Over the API's own websocket, at the page's host and path, with the token as the API reads it.
    const url = new URL(server.app.url());
    expect(sockets.map((s) => s.url)).toEqual([`ws://${url.host}/graphql`]);
    const init = JSON.parse(sockets[0]!.sent[0]!) as { type: string; payload: unknown };
    expect(init).toEqual({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } });
    expect(posts.some((p) => p.includes('memoryAdded'))).toBe(false);
    expect(offLoopback).toEqual([]);
    await page.close();
  });

  it('shows events to a view link holder whose share token is in the Headers tab', async () => {
    const token = await api.signUp(`explorer-owner-${Date.now()}@example.test`);
    const chestId = await api.createChest(token, 'Rose Ellis');
    const link = await api.must(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chestId }, token);
    const shareToken = link.createShareLink.token as string;
    const { page, sockets } = await openExplorer();
    await setHeaders(page, { 'X-Share-Token': shareToken });

    await run(page, `subscription Shared { memoryAdded(chestId: "${chestId}") { id filename } }`, 'Shared');
    await listening(chestId, 1);
    const assetId = await api.upload(token, chestId, await jpeg(80, 60, '#38c'), 'kitchen.jpg', 'image/jpeg');

    await expect.poll(() => responseText(page), { timeout: 20_000 }).toContain(assetId);
    expect(sockets).toHaveLength(1);
    expect(JSON.parse(sockets[0]!.sent[0]!)).toEqual({ type: 'connection_init', payload: { shareToken } });
    expect(offLoopback).toEqual([]);
    await page.close();
  });

  it('says why a subscription with a bad token was refused', async () => {
    const token = await api.signUp(`explorer-bad-${Date.now()}@example.test`);
    const chestId = await api.createChest(token);
    const { page } = await openExplorer();
    await setHeaders(page, { Authorization: `Bearer ${'x'.repeat(43)}` });

    await run(page, `subscription Refused { memoryAdded(chestId: "${chestId}") { id } }`, 'Refused');
    // The server closes with 4403 Forbidden; the explorer shows it instead of retrying.
    await expect.poll(() => responseText(page), { timeout: 20_000 }).toContain('Socket closed with event 4403');
    expect(offLoopback).toEqual([]);
    await page.close();
  });

  /**
   * TLS in front of the API, as nginx would put it: a self-signed certificate (openssl) and a TCP
   * pipe to the API's port, so the page is https: and its websocket must be wss: on the same host.
   */
  async function tlsInFront(dir: string): Promise<{ server: TlsServer; origin: string }> {
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const api = new URL(server.app.url());
    const tls = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (client) => {
      const upstream = connect(Number(api.port), api.hostname);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => tls.listen(0, '127.0.0.1', resolve));
    return { server: tls, origin: `https://127.0.0.1:${(tls.address() as AddressInfo).port}` };
  }

  it("behind TLS, subscribes over wss: at the page's own host and path", async () => {
    const token = await api.signUp(`explorer-tls-${Date.now()}@example.test`);
    const chestId = await api.createChest(token, 'Ada Ellis');
    const dir = await mkdtemp(join(tmpdir(), 'dmc-tls-'));
    const { server: tls, origin } = await tlsInFront(dir);
    const browser = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, ignoreHTTPSErrors: true });
    try {
      await browser.route((url) => !isLoopback(url), (route) => (offLoopback.push(route.request().url()), route.abort('blockedbyclient')));
      const page = await browser.newPage();
      const sockets: string[] = [];
      page.on('websocket', (ws) => sockets.push(ws.url()));
      await page.goto(`${origin}/graphql`);
      await page.locator('.graphiql-query-editor .CodeMirror').waitFor();
      await setHeaders(page, { Authorization: `Bearer ${token}` });

      await run(page, `subscription OverTls { memoryAdded(chestId: "${chestId}") { id } }`, 'OverTls');
      await listening(chestId, 1);
      const assetId = await api.upload(token, chestId, await jpeg(40, 30, '#c33'), 'pier.jpg', 'image/jpeg');

      await expect.poll(() => responseText(page), { timeout: 20_000 }).toContain(assetId);
      expect(sockets).toEqual([`${origin.replace(/^https:/, 'wss:')}/graphql`]);
      expect(offLoopback).toEqual([]);
    } finally {
      await browser.close();
      await new Promise((resolve) => tls.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });
});
