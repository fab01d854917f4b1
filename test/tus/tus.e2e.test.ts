import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HttpResponse, Upload as TusUpload } from 'tus-js-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Upload } from '../../src/db/entities/index.js';
import { PART_SIZE } from '../../src/domain/upload/upload.service.js';
import { apiClient } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { startTus, tusTicket } from './tus-client.js';

const sha256 = (b: Buffer, enc: 'hex' | 'base64' = 'hex') => createHash('sha256').update(b).digest(enc);

/** The upload route as tus 1.0, driven by the real tus-js-client and by raw requests for the edges. */
describe('tus 1.0 on /uploads/:id', () => {
  let server: TestServer;
  let base: string;
  let token: string;
  let chestId: string;
  let photo: Buffer;

  beforeAll(async () => {
    server = await startTestServer();
    base = server.app.url();
    const client = apiClient(base);
    token = await client.signUp('tus@example.com');
    chestId = await client.createChest(token);
    photo = await jpeg(900, 700, '#a35');
  });
  afterAll(async () => server?.stop());

  const ticketFor = (bytes: Buffer, filename = 'photo.jpg') => tusTicket(base, token, { chestId, filename, size: bytes.length, mimeType: 'image/jpeg' });
  const storedSha = async (assetId: string) => (await server.db.orm.em.fork().findOneOrFail(Asset, { id: assetId })).sha256;

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
    const first = startTus({ url: t.url, headers: t.headers, bytes, chunkSize, onChunk: (run, accepted) => accepted >= 2 * chunkSize && void run.upload.abort() });
    await expect.poll(() => first.patchOffsets.length).toBe(2);
    await new Promise((r) => setTimeout(r, 50)); // let the abort settle
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
    const run = startTus({ url: t.url, headers: t.headers, bytes, chunkSize, onChunk: (r) => void r.upload.abort() });
    await expect.poll(() => run.patchOffsets.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    const tus = { 'Tus-Resumable': '1.0.0' };
    expect((await fetch(t.url, { method: 'DELETE', headers: { ...tus, Authorization: 'Upload not-the-secret' } })).status).toBe(404);
    // tus-js-client's own termination: the same request a client's cancel button sends.
    await TusUpload.terminate(t.url, { headers: t.headers, retryDelays: null });
    const row = await server.db.orm.em.fork().findOneOrFail(Upload, { id: t.id });
    expect(row.status).toBe('FAILED');
    const head = await fetch(t.url, { method: 'HEAD', headers: { ...t.headers, ...tus } });
    expect(head.status).toBe(410);
    await expect(startTus({ url: t.url, headers: t.headers, bytes }).done).rejects.toThrow();
    const root = server.config.storage.kind === 'filesystem' ? server.config.storage.root : '';
    const staged = await readdir(join(root, 'staging/uploads', t.id)).catch(() => []);
    expect(staged).toEqual([]);
  });
});
