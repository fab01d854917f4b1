import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signedPath } from '../src/domain/asset/download.js';
import { apiClient, eventually } from './support/client.js';
import { jpeg } from './support/media.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/**
 * Storage outages on the served mode (docs/operations.md "Outages", RELIABILITY.md): the app and its worker
 * reach s3rver through a TCP proxy the test cuts (unreachable server) and hangs (a frozen server
 * that accepts connections and never answers). Downloads of an original and of a thumbnail, and
 * upload HEAD and PATCH, answer 503 SERVICE_UNAVAILABLE with Retry-After: when hung, because the
 * storage client gives up after STORAGE_TIMEOUT_SECONDS of silence instead of waiting forever.
 * Once the proxy forwards again the same requests succeed, with no restart.
 */
describe('storage outages: S3 cut and hung', () => {
  let dir: string;
  let s3: S3rver;
  let proxy: TcpProxy;
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let token: string;
  let photo: Buffer;
  let original: string;
  let thumbnail: string;
  let tickets: { url: string; headers: Record<string, string>; bytes: Buffer }[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dmc-s3-hung-'));
    s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
    const { port } = (await s3.run()) as { port: number };
    proxy = await startTcpProxy({ host: '127.0.0.1', port });
    server = await startTestServer(
      // A 1 s bound so a hung server answers quickly here (default 30 s).
      { S3_ENDPOINT: `http://127.0.0.1:${proxy.port}`, S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'S3RVER', S3_BUCKET: 'memory-chest-hung', STORAGE_TIMEOUT_SECONDS: '1' },
      { worker: true },
    );
    api = apiClient(server.app.url());
    token = await api.signUp('storage.outage@example.com');
    const chestId = await api.createChest(token);
    photo = await jpeg(320, 240);
    const assetId = await api.upload(token, chestId, photo, 'garden.jpg', 'image/jpeg');
    const asset = await eventually(async () => {
      const d = await api.must(`query($id: ID!) { asset(id: $id) { status thumbnails { name } } }`, { id: assetId }, token);
      return d.asset.status === 'COMPLETE' && d.asset.thumbnails.length > 0 ? d.asset : undefined;
    });
    // GraphQL hands out presigned S3 links in this mode (clients then meet S3's own failure, not
    // the API's); these are the API's own download routes, which stream from storage.
    original = new URL(signedPath(server.config.secretKey, assetId), server.app.url()).toString();
    thumbnail = new URL(signedPath(server.config.secretKey, `${assetId}/${asset.thumbnails[0].name}`), server.app.url()).toString();
    tickets = [];
    for (let i = 0; i < 2; i++) {
      const bytes = await jpeg(90 + i, 70, '#5a7');
      const t = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { chestId, filename: `during-${i}.jpg`, size: bytes.length, mimeType: 'image/jpeg' } }, token);
      tickets.push({ url: new URL(t.createUpload.url, server.app.url()).toString(), headers: Object.fromEntries(t.createUpload.headers.map((h: { name: string; value: string }) => [h.name, h.value])), bytes });
    }
  }, 120_000);
  afterAll(async () => {
    proxy?.restore();
    await server?.stop();
    await proxy?.close();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const head = (t: (typeof tickets)[number]) => fetch(t.url, { method: 'HEAD', headers: t.headers });
  const patch = (t: (typeof tickets)[number]) => fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': '0' }, body: t.bytes });

  /** Each request touching storage: 503 SERVICE_UNAVAILABLE, Retry-After, a JSON body and none of the file's headers. */
  async function expectUnavailable(ticket: (typeof tickets)[number]) {
    for (const url of [original, thumbnail]) {
      const g = await fetch(url);
      expect([g.status, g.headers.get('retry-after'), g.headers.get('content-type'), g.headers.get('content-disposition')]).toEqual([503, '5', expect.stringMatching(/^application\/json/), null]);
      expect(((await g.json()) as any).errors[0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfter: 5 });
    }
    const h = await head(ticket);
    expect([h.status, h.headers.get('retry-after')]).toEqual([503, '5']);
    const p = await patch(ticket);
    expect([p.status, p.headers.get('retry-after')]).toEqual([503, '5']);
    expect(((await p.json()) as any).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
  }

  /** The same requests once storage is back: the files' bytes, and the upload finished once. */
  async function expectRecovered(ticket: (typeof tickets)[number]) {
    const g = await fetch(original);
    expect(g.status).toBe(200);
    expect(sha256(Buffer.from(await g.arrayBuffer()))).toBe(sha256(photo));
    const t = await fetch(thumbnail);
    expect([t.status, t.headers.get('content-type')]).toEqual([200, 'image/webp']);
    expect((await t.arrayBuffer()).byteLength).toBeGreaterThan(0);
    const h = await head(ticket);
    expect(h.status).toBe(200);
    const offset = Number(h.headers.get('upload-offset'));
    const p = await fetch(ticket.url, { method: 'PATCH', headers: { ...ticket.headers, 'Upload-Offset': String(offset) }, body: ticket.bytes.subarray(offset) });
    expect(p.status).toBe(200);
    const { assetId } = (await p.json()) as { assetId: string };
    const back = await fetch(new URL(signedPath(server.config.secretKey, assetId), server.app.url()));
    expect(sha256(Buffer.from(await back.arrayBuffer()))).toBe(sha256(ticket.bytes));
  }

  it('cut: downloads (original, thumbnail) and upload HEAD/PATCH answer 503 + Retry-After; restored: all succeed', { timeout: 60_000 }, async () => {
    proxy.cut();
    await expectUnavailable(tickets[0]!);
    proxy.restore();
    await expectRecovered(tickets[0]!);
  });

  it('hung: the same 503s, because storage requests give up after STORAGE_TIMEOUT_SECONDS of silence; restored: all succeed', { timeout: 60_000 }, async () => {
    const heldBefore = proxy.stats.held;
    proxy.hang();
    const started = Date.now();
    await expectUnavailable(tickets[1]!);
    const outageSeconds = (Date.now() - started) / 1000;
    // The 503s came from requests the frozen server accepted and never answered, not from refusals.
    expect(proxy.stats.held).toBeGreaterThan(heldBefore);
    proxy.restore();
    await expectRecovered(tickets[1]!);
    console.info(`[outage drill] s3 hung (1 s bound): 4 of 4 requests answered 503 in ${outageSeconds.toFixed(1)} s; connections held by the frozen server: ${proxy.stats.held - heldBefore}; recovered without restart`);
  });
});
