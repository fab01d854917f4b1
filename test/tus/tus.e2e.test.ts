import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HttpResponse, Upload as TusUpload } from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Upload } from '../../src/db/entities/index.js';
import { PART_SIZE } from '../../src/domain/upload/upload.service.js';
import { checksumBodiesHeld } from '../../src/http/tus.js';
import { apiClient } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { STORAGE_ENVS, type StorageEnv, startStorageEnv } from '../support/storage.js';
import { startTus, tusTicket } from './tus-client.js';

const sha256 = (b: Buffer, enc: 'hex' | 'base64' = 'hex') => createHash('sha256').update(b).digest(enc);

/** A request body that sends its first `at` bytes, then waits for release() before the rest. */
function pausedBody(bytes: Buffer, at: number): { body: ReadableStream<Uint8Array>; release: () => void } {
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      controller.enqueue(bytes.subarray(0, at));
      await held;
      controller.enqueue(bytes.subarray(at));
      controller.close();
    },
  });
  return { body, release };
}

/** The upload route as tus 1.0, driven by the real tus-js-client and by raw requests for the edges, on each storage backend. */
describe.each(STORAGE_ENVS)('tus 1.0 on /uploads/:id on %s storage', (storageName) => {
  let storageEnv: StorageEnv;
  let server: TestServer;
  let base: string;
  let token: string;
  let chestId: string;
  let photo: Buffer;

  beforeAll(async () => {
    storageEnv = await startStorageEnv(storageName);
    server = await startTestServer(storageEnv.env);
    base = server.app.url();
    const client = apiClient(base);
    token = await client.signUp('tus@example.com');
    chestId = await client.createChest(token);
    photo = await jpeg(900, 700, '#a35');
  });
  afterAll(async () => {
    await server?.stop();
    await storageEnv?.stop();
  });

  const ticketFor = (bytes: Buffer, filename = 'photo.jpg') => tusTicket(base, token, { chestId, filename, size: bytes.length, mimeType: 'image/jpeg' });
  const storedSha = async (assetId: string) => (await server.db.orm.em.fork().findOneOrFail(Asset, { id: assetId })).sha256;
  /** Once an aborted PATCH has been seen through on the server: its lease is released. */
  const settled = (uploadId: string) =>
    expect.poll(async () => (await server.db.orm.em.fork().findOneOrFail(Upload, { id: uploadId })).leaseToken, { timeout: 10_000, interval: 20 }).toBeNull();

  it('OPTIONS names the version, extensions, size limit and checksum algorithm, without Tus-Resumable', async () => {
    const res = await fetch(`${base}/uploads`, { method: 'OPTIONS' });
    expect(res.status).toBe(204);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect(res.headers.get('tus-extension')?.split(',')).toEqual(expect.arrayContaining(['termination', 'checksum']));
    expect(Number(res.headers.get('tus-max-size'))).toBeGreaterThan(0);
    expect(res.headers.get('tus-checksum-algorithm')).toBe('sha256');
    expect(res.headers.get('tus-resumable')).toBeNull();
  });

  it('uploads a photo with tus-js-client at the ticket URL; the outcome is in the last response', async () => {
    const t = await ticketFor(photo);
    const run = startTus({ url: t.url, headers: t.headers, bytes: photo });
    const last = await run.done;
    expect(last.getHeader('Tus-Resumable')).toBe('1.0.0');
    expect(last.getHeader('Upload-Status')).toBe('COMPLETE');
    expect(await storedSha(last.getHeader('Upload-Asset-Id')!)).toBe(sha256(photo));
    // A client that lost that answer starts again at the same URL: HEAD tells it what it became.
    const again = await startTus({ url: t.url, headers: t.headers, bytes: photo }).done;
    expect(again.getHeader('Upload-Asset-Id')).toBe(last.getHeader('Upload-Asset-Id'));
  });

  it("with tus-js-client's defaults (no chunkSize) a file stream of several storage parts goes up in one PATCH", async () => {
    // More than two PART_SIZE parts, so the single body crosses part boundaries on the server.
    const bytes = Buffer.concat([photo, randomBytes(2 * PART_SIZE + 12_345)]);
    const dir = await mkdtemp(join(tmpdir(), 'tus-default-'));
    const path = join(dir, 'big.jpg');
    await writeFile(path, bytes);
    const t = await ticketFor(bytes, 'big.jpg');
    const patches: number[] = [];
    const last = await new Promise<HttpResponse>((resolve, reject) => {
      new TusUpload(createReadStream(path), {
        uploadUrl: t.url,
        headers: t.headers,
        uploadSize: bytes.length,
        retryDelays: null,
        storeFingerprintForResuming: false,
        onBeforeRequest: (req) => void (req.getMethod() === 'PATCH' && patches.push(Number(req.getHeader('Upload-Offset')))),
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
      }).start();
    });
    await rm(dir, { recursive: true, force: true });
    expect(patches).toEqual([0]);
    expect(last.getHeader('Upload-Offset')).toBe(String(bytes.length));
    expect(await storedSha(last.getHeader('Upload-Asset-Id')!)).toBe(sha256(bytes));
  });

  it('pauses (abort) and resumes from another client instance at the offset the server holds', async () => {
    const bytes = await jpeg(1200, 900, '#3a9');
    const chunkSize = Math.ceil(bytes.length / 5);
    const t = await ticketFor(bytes, 'paused.jpg');
    let paused = false;
    const first = startTus({ url: t.url, headers: t.headers, bytes, chunkSize, onChunk: (run, accepted) => accepted >= 2 * chunkSize && ((paused = true), void run.upload.abort()) });
    await expect.poll(() => paused).toBe(true);
    await settled(t.id);
    expect(first.patchOffsets).toHaveLength(2);
    const head = await fetch(t.url, { method: 'HEAD', headers: { ...t.headers, 'Tus-Resumable': '1.0.0' } });
    expect(head.status).toBe(200);
    expect(head.headers.get('cache-control')).toBe('no-store');
    expect(head.headers.get('upload-length')).toBe(String(bytes.length));
    const held = Number(head.headers.get('upload-offset'));
    expect(held).toBe(2 * chunkSize);

    const second = startTus({ url: t.url, headers: t.headers, bytes, chunkSize });
    const last = await second.done;
    // The new instance started where the server was, so every byte went over the wire once.
    expect(second.patchOffsets[0]).toBe(held);
    expect(await storedSha(last.getHeader('Upload-Asset-Id')!)).toBe(sha256(bytes));
  });

  it('answers a wrong offset with 409 and the offset it holds; nothing is lost, the client resumes', async () => {
    const t = await ticketFor(photo, 'offset.jpg');
    const half = Math.floor(photo.length / 2);
    const h = { ...t.headers, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' };
    const firstHalf = await fetch(t.url, { method: 'PATCH', headers: { ...h, 'Upload-Offset': '0' }, body: photo.subarray(0, half) });
    expect(firstHalf.status).toBe(204);
    expect(firstHalf.headers.get('upload-offset')).toBe(String(half));
    const wrong = await fetch(t.url, { method: 'PATCH', headers: { ...h, 'Upload-Offset': '0' }, body: photo.subarray(0, half) });
    expect(wrong.status).toBe(409);
    expect(wrong.headers.get('upload-offset')).toBe(String(half));
    expect(wrong.headers.get('tus-resumable')).toBe('1.0.0');
    const last = await startTus({ url: t.url, headers: t.headers, bytes: photo }).done;
    expect(await storedSha(last.getHeader('Upload-Asset-Id')!)).toBe(sha256(photo));
  });

  it('tus-js-client whose PATCH meets a 409 (another writer moved the offset) asks HEAD again and resumes there', async () => {
    const t = await ticketFor(photo, 'raced.jpg');
    const third = Math.floor(photo.length / 3);
    const h = { ...t.headers, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' };
    const sent: { method: string; offset: string | undefined }[] = [];
    const answers: number[] = [];
    let raced = false;
    const last = await new Promise<HttpResponse>((resolve, reject) => {
      new TusUpload(photo, {
        uploadUrl: t.url,
        headers: t.headers,
        retryDelays: [0, 100],
        storeFingerprintForResuming: false,
        // Between the client's HEAD and its first PATCH, another writer stores a third of the file.
        onBeforeRequest: async (req) => {
          sent.push({ method: req.getMethod(), offset: req.getHeader('Upload-Offset') });
          if (req.getMethod() !== 'PATCH' || raced) return;
          raced = true;
          const other = await fetch(t.url, { method: 'PATCH', headers: { ...h, 'Upload-Offset': '0' }, body: photo.subarray(0, third) });
          expect(other.status).toBe(204);
        },
        onAfterResponse: (_req, res) => void answers.push(res.getStatus()),
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
      }).start();
    });
    expect(answers).toEqual([200, 409, 200, 204]);
    expect(sent).toEqual([
      { method: 'HEAD', offset: undefined },
      { method: 'PATCH', offset: '0' },
      { method: 'HEAD', offset: undefined },
      { method: 'PATCH', offset: String(third) },
    ]);
    expect(await storedSha(last.getHeader('Upload-Asset-Id')!)).toBe(sha256(photo));
  });

  it('takes a PATCH sent as POST with X-HTTP-Method-Override (tus-js-client overridePatchMethod, for proxies without PATCH)', async () => {
    const t = await ticketFor(photo, 'override.jpg');
    const methods: string[] = [];
    const last = await new Promise<HttpResponse>((resolve, reject) => {
      new TusUpload(photo, {
        uploadUrl: t.url,
        headers: t.headers,
        overridePatchMethod: true,
        retryDelays: null,
        storeFingerprintForResuming: false,
        onBeforeRequest: (req) => void methods.push(`${req.getMethod()} ${req.getHeader('X-HTTP-Method-Override') ?? ''}`.trim()),
        onSuccess: ({ lastResponse }) => resolve(lastResponse),
        onError: reject,
      }).start();
    });
    expect(methods).toEqual(['HEAD', 'POST PATCH']);
    expect(last.getHeader('Upload-Status')).toBe('COMPLETE');
    expect(await storedSha(last.getHeader('Upload-Asset-Id')!)).toBe(sha256(photo));
    // Only the tus methods can be named; a POST to /uploads (tus creation) is not served.
    const post = await fetch(`${base}/uploads`, { method: 'POST', headers: { 'Tus-Resumable': '1.0.0', 'Upload-Length': '10' } });
    expect(post.status).toBe(405);
    expect(post.headers.get('tus-resumable')).toBe('1.0.0');
    expect(((await post.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/createUpload/);
  });

  it('reads Upload-Offset as digits only: empty, exponent, sign and fraction are refused', async () => {
    const t = await ticketFor(photo, 'strict.jpg');
    const h = { ...t.headers, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream' };
    for (const bad of ['', '0e0', '1e3', '-0', '+0', '0.0', '0x0', '0 0']) {
      const res = await fetch(t.url, { method: 'PATCH', headers: { ...h, 'Upload-Offset': bad }, body: photo.subarray(0, 10) });
      expect(res.status, `Upload-Offset "${bad}"`).toBe(400);
    }
    expect((await server.db.orm.em.fork().findOneOrFail(Upload, { id: t.id })).receivedBytes).toBe(0);
  });

  it('answers a 412 to a PATCH only after reading its body, so the client gets the 412 and not a reset', async () => {
    const t = await ticketFor(photo, 'version.jpg');
    const big = randomBytes(4 * 1024 * 1024);
    const res = await fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Tus-Resumable': '0.2.2', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: big });
    expect(res.status).toBe(412);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect(((await res.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('holds one checksummed body per upload at a time: a second, sent meanwhile, gets 409 with Retry-After', async () => {
    const t = await ticketFor(photo, 'checksum-race.jpg');
    const h = { ...t.headers, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0', 'Upload-Checksum': `sha256 ${sha256(photo, 'base64')}` };
    // The first body comes in two pieces with a pause between: the server holds it meanwhile.
    const { body: slow, release } = pausedBody(photo, 1000);
    const first = fetch(t.url, { method: 'PATCH', headers: h, body: slow, duplex: 'half' } as RequestInit);
    await expect.poll(checksumBodiesHeld, { timeout: 10_000, interval: 10 }).toBe(1);
    const second = await fetch(t.url, { method: 'PATCH', headers: h, body: photo });
    expect(second.status).toBe(409);
    expect(second.headers.get('retry-after')).toBe('1');
    expect(second.headers.get('upload-offset')).toBe('0');
    release();
    const done = await first;
    expect(done.status).toBe(204);
    expect(done.headers.get('upload-status')).toBe('COMPLETE');
    expect(await storedSha(done.headers.get('upload-asset-id')!)).toBe(sha256(photo));
  });

  it('refuses a body whose Upload-Checksum does not match with 460 and appends nothing; a matching one is taken', async () => {
    const t = await ticketFor(photo, 'checksum.jpg');
    const part = photo.subarray(0, 1000);
    const h = { ...t.headers, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' };
    const bad = await fetch(t.url, { method: 'PATCH', headers: { ...h, 'Upload-Checksum': `sha256 ${sha256(Buffer.from('other'), 'base64')}` }, body: part });
    expect(bad.status).toBe(460);
    const row = await server.db.orm.em.fork().findOneOrFail(Upload, { id: t.id });
    expect(row.receivedBytes).toBe(0);
    const good = await fetch(t.url, { method: 'PATCH', headers: { ...h, 'Upload-Checksum': `sha256 ${sha256(part, 'base64')}` }, body: part });
    expect(good.status).toBe(204);
    expect(good.headers.get('upload-offset')).toBe('1000');
  });

  it('speaks the core status codes: 412 with Tus-Version, 415, 404', async () => {
    const t = await ticketFor(photo, 'codes.jpg');
    const old = await fetch(t.url, { method: 'HEAD', headers: { ...t.headers, 'Tus-Resumable': '0.2.2' } });
    expect(old.status).toBe(412);
    expect(old.headers.get('tus-version')).toBe('1.0.0');
    const type = await fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Tus-Resumable': '1.0.0', 'Content-Type': 'application/json', 'Upload-Offset': '0' }, body: '{}' });
    expect(type.status).toBe(415);
    const secret = await fetch(t.url, { method: 'HEAD', headers: { Authorization: 'Upload not-the-secret', 'Tus-Resumable': '1.0.0' } });
    expect(secret.status).toBe(404);
    expect(secret.headers.get('upload-offset')).toBeNull();
  });

  it('terminates an upload with DELETE (the ticket secret required); the client then sees 410', async () => {
    const bytes = await jpeg(1000, 800, '#77c');
    const chunkSize = Math.ceil(bytes.length / 4);
    const t = await ticketFor(bytes, 'cancel.jpg');
    let paused = false;
    const run = startTus({ url: t.url, headers: t.headers, bytes, chunkSize, onChunk: (r) => ((paused = true), void r.upload.abort()) });
    await expect.poll(() => paused).toBe(true);
    await settled(t.id);
    expect(run.patchOffsets).toHaveLength(1);
    const tus = { 'Tus-Resumable': '1.0.0' };
    expect((await fetch(t.url, { method: 'DELETE', headers: { ...tus, Authorization: 'Upload not-the-secret' } })).status).toBe(404);
    // tus-js-client's own termination: the same request a client's cancel button sends.
    await TusUpload.terminate(t.url, { headers: t.headers, retryDelays: null });
    const row = await server.db.orm.em.fork().findOneOrFail(Upload, { id: t.id });
    expect(row.status).toBe('FAILED');
    const head = await fetch(t.url, { method: 'HEAD', headers: { ...t.headers, ...tus } });
    expect(head.status).toBe(410);
    await expect(startTus({ url: t.url, headers: t.headers, bytes }).done).rejects.toThrow();
    // Its stored parts are gone from the store, whichever it is.
    const left: string[] = [];
    for await (const o of server.app.storage.list(`staging/uploads/${t.id}`)) left.push(o.key);
    expect(left).toEqual([]);
  });

  it('DELETE: again on a cancelled upload 204, on a finished one 409, while a PATCH sends 409 with the offset, a wrong secret 404', async () => {
    const tus = { 'Tus-Resumable': '1.0.0' };
    const del = (url: string, headers: Record<string, string>) => fetch(url, { method: 'DELETE', headers: { ...headers, ...tus } });
    // A well-formed secret of another upload: the lookup runs and finds nothing to act on.
    const mine = await ticketFor(photo, 'delete-mine.jpg');
    const other = await ticketFor(photo, 'delete-other.jpg');
    expect((await del(mine.url, other.headers)).status).toBe(404);
    expect((await server.db.orm.em.fork().findOneOrFail(Upload, { id: mine.id })).status).toBe('OPEN');
    expect((await del(mine.url, mine.headers)).status).toBe(204);
    expect((await del(mine.url, mine.headers)).status).toBe(204);

    const finished = await ticketFor(photo, 'delete-finished.jpg');
    await startTus({ url: finished.url, headers: finished.headers, bytes: photo }).done;
    const late = await del(finished.url, finished.headers);
    expect(late.status).toBe(409);
    expect(((await late.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe('CONFLICT');

    const busy = await ticketFor(photo, 'delete-busy.jpg');
    const { body: slow, release } = pausedBody(photo, 1000);
    const sending = fetch(busy.url, { method: 'PATCH', headers: { ...busy.headers, ...tus, 'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': '0' }, body: slow, duplex: 'half' } as RequestInit);
    await expect.poll(async () => (await server.db.orm.em.fork().findOneOrFail(Upload, { id: busy.id })).leaseToken, { timeout: 10_000, interval: 10 }).not.toBeNull();
    const during = await del(busy.url, busy.headers);
    expect(during.status).toBe(409);
    expect(during.headers.get('upload-offset')).toBe('0');
    release();
    expect((await sending).status).toBe(204);
    expect((await server.db.orm.em.fork().findOneOrFail(Upload, { id: busy.id })).status).toBe('COMPLETE');
  });
});
