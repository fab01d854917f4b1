import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Chest } from '../../src/db/entities/index.js';
import { FileType, ProcessingStatus } from '../../src/db/enums.js';
import type { ChestRecord } from '../../src/domain/export/chest-record.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { apiClient, eventually } from '../support/client.js';
import { startTestServer, type TestServer } from '../support/server.js';

const MiB = 1024 * 1024;
const FILES = 8;
const FILE_SIZE = 128 * MiB;

/** 128 MiB of text that does not repeat in any short period (one random MiB of letters, each copy with its index written in): made as it is read. */
function bigDocument(seed: Buffer, index: number): Readable {
  let sent = 0;
  return new Readable({
    read() {
      if (sent >= FILE_SIZE) return this.push(null);
      const block = Buffer.from(seed);
      block.write(`${index} ${sent / MiB}\n`.padEnd(16, ' '), 0, 'latin1');
      sent += MiB;
      this.push(block);
    },
  });
}

/**
 * Memory stays flat however much a chest weighs: 1 GiB of originals exported by the worker in
 * this process, its resident memory sampled as it goes. Measured in bytes, never in seconds.
 */
describe('exporting and importing a chest with 1 GiB of originals', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let owner: string;
  let chestId: string;
  let work: string;
  const hashes = new Map<string, string>();

  beforeAll(async () => {
    server = await startTestServer({ SWEEP_INTERVAL_MINUTES: '0' }, { worker: true });
    api = apiClient(server.app.url());
    owner = await api.signUp('heavy@example.com');
    chestId = await api.createChest(owner, 'Heavy Chest');
    work = await mkdtemp(join(tmpdir(), 'dmc-export-memory-'));
    const storage = await createStorage(server.config.storage);
    const em = server.db.orm.em.fork();
    const chest = await em.findOneOrFail(Chest, { id: chestId });
    // Plain text, as a real .txt is (an import sniffs every file as an upload does): random words of a-z.
    const seed = Buffer.from(randomBytes(MiB).map((b) => (b % 8 === 0 ? 0x20 : 0x61 + (b % 26))));
    for (let i = 0; i < FILES; i++) {
      const id = randomUUID();
      const storageKey = `chests/${chestId}/originals/${id}`;
      const hash = createHash('sha256');
      const hashed = new Transform({ transform: (b: Buffer, _e, next) => next(null, hash.update(b) && b) });
      await storage.put(storageKey, bigDocument(seed, i).pipe(hashed), { size: FILE_SIZE });
      const sha256 = hash.digest('hex');
      hashes.set(id, sha256);
      em.create(Asset, { id, chest, storageKey, filename: `ledger ${i}.txt`, fileType: FileType.DOCUMENT, mimeType: 'text/plain', size: FILE_SIZE, sha256, status: ProcessingStatus.COMPLETE } as never);
    }
    await em.flush();
  }, 300_000);
  afterAll(async () => {
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps RSS growth under 160 MiB and heap under 64 MiB, and the archive holds every byte', { timeout: 600_000 }, async () => {
    globalThis.gc?.();
    const baseline = process.memoryUsage();
    let peakRss = baseline.rss;
    let peakHeap = baseline.heapUsed;
    const sampler = setInterval(() => {
      const now = process.memoryUsage();
      peakRss = Math.max(peakRss, now.rss);
      peakHeap = Math.max(peakHeap, now.heapUsed);
    }, 50);
    const ws = api.ws(owner);
    let url: string;
    try {
      const ready = api.collect(ws, `subscription($c: ID!) { exportReady(chestId: $c) { id status } }`, { c: chestId }, (all) => all.length >= 1);
      await api.settled(ws);
      const { exportChest } = await api.must(`mutation($c: ID!) { exportChest(chestId: $c, input: { includeLocation: true }) { id } }`, { c: chestId }, owner);
      const [done] = await ready.done;
      expect(done!.data.exportReady.status).toBe('READY');
      const row = (await api.must(`query($id: ID!) { export(id: $id) { bytes downloadUrl } }`, { id: exportChest.id }, owner)).export;
      expect(row.bytes).toBeGreaterThan(FILES * FILE_SIZE);
      url = row.downloadUrl;
    } finally {
      clearInterval(sampler);
      await ws.dispose();
    }
    expect(peakRss - baseline.rss).toBeLessThan(160 * MiB);
    expect(peakHeap - baseline.heapUsed).toBeLessThan(64 * MiB);

    const zipPath = join(work, 'archive.zip');
    const res = await fetch(`${server.app.url()}${url}`);
    await pipeline(Readable.fromWeb(res.body as never), createWriteStream(zipPath));
    const zip = await yauzl.openPromise(zipPath, { validateEntrySizes: true });
    const seen = new Map<string, string>();
    let record: ChestRecord | null = null;
    for await (const entry of zip.eachEntry()) {
      const hash = createHash('sha256');
      const chunks: Buffer[] = [];
      for await (const chunk of await zip.openReadStreamPromise(entry)) {
        hash.update(chunk as Buffer);
        if (entry.fileName === 'chest.json') chunks.push(chunk as Buffer);
      }
      seen.set(entry.fileName, hash.digest('hex'));
      if (entry.fileName === 'chest.json') record = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ChestRecord;
    }
    zip.close();
    expect(record!.memories).toHaveLength(FILES);
    for (const m of record!.memories) {
      expect(m.sha256).toBe(hashes.get(m.id));
      expect(seen.get(m.file.path)).toBe(hashes.get(m.id));
    }
  });

  it('imports that archive with RSS growth under 160 MiB, every original streamed in and checked', { timeout: 600_000 }, async () => {
    const zipPath = join(work, 'archive.zip');
    const size = (await stat(zipPath)).size;
    const d = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { upload { id } url headers { name value } } }`, { i: { purpose: 'ARCHIVE', filename: 'heavy.zip', size, mimeType: 'application/zip' } }, owner);
    const headers = Object.fromEntries((d.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    // Streamed from the file: the test holds no more of it than the server does.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${server.app.url()}${d.createUpload.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0', 'Content-Length': String(size) } }, (r) => {
        r.resume();
        r.on('end', () => resolve(r.statusCode ?? 0));
      });
      req.on('error', reject);
      createReadStream(zipPath).pipe(req);
    });
    expect(status).toBe(200);

    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    let done: { status: string; chest: { id: string } | null };
    try {
      const { importChest } = await api.must(`mutation($u: ID!) { importChest(input: { uploadId: $u }) { id } }`, { u: d.createUpload.upload.id }, owner);
      done = await eventually(async () => {
        const r = (await api.must(`query($id: ID!) { chestImport(id: $id) { status errorCode chest { id } } }`, { id: importChest.id }, owner)).chestImport;
        return r.status === 'DONE' || r.status === 'FAILED' ? r : undefined;
      }, 300_000, 500);
    } finally {
      clearInterval(sampler);
    }
    expect(done).toMatchObject({ status: 'DONE' });
    expect(peak - baseline).toBeLessThan(160 * MiB);
    const imported = await server.db.orm.em.fork().find(Asset, { chest: done.chest!.id });
    expect(imported.map((a) => a.sha256).sort()).toEqual([...hashes.values()].sort());
  });
});
