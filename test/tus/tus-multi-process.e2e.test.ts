import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/client.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { jpeg } from '../support/media.js';
import { type ProductProcess, startApi } from '../support/processes.js';
import { startTus, tusTicket } from './tus-client.js';

/** A tus-js-client upload begun on one API process and finished by another client on a second one. */
describe('tus resume across two API processes', () => {
  let db: TestDatabase;
  let dataDir: string;
  const procs: ProductProcess[] = [];
  let api1: string;
  let api2: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-tus-'));
    const env = { DATABASE_URL: db.url, DATA_DIR: dataDir, SECRET_KEY: 'a-shared-secret-of-32-characters-or-more', SWEEP_INTERVAL_MINUTES: '0' };
    const a = await startApi(env);
    procs.push(a.proc);
    const b = await startApi(env);
    procs.push(b.proc);
    api1 = a.url;
    api2 = b.url;
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('resumes on API #2 at the offset API #1 stored; the asset holds the bytes sent once', { timeout: 120_000 }, async () => {
    const client = apiClient(api1);
    const token = await client.signUp('tus-multi@example.com');
    const chestId = await client.createChest(token);
    const bytes = await jpeg(1200, 900, '#596');
    const chunkSize = Math.ceil(bytes.length / 4);
    const t = await tusTicket(api1, token, { chestId, filename: 'across.jpg', size: bytes.length, mimeType: 'image/jpeg' });

    const first = startTus({ url: t.url, headers: t.headers, bytes, chunkSize, onChunk: (run, accepted) => accepted >= chunkSize && void run.upload.abort() });
    await expect.poll(() => first.patchOffsets.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));

    // The same upload's URL on the other process: only the origin differs.
    const url2 = new URL(new URL(t.url).pathname, api2).href;
    const second = startTus({ url: url2, headers: t.headers, bytes, chunkSize });
    const last = await second.done;
    expect(second.patchOffsets[0]).toBe(chunkSize);
    const assetId = last.getHeader('Upload-Asset-Id')!;
    const d = await apiClient(api2).must(`query($id: ID!) { asset(id: $id) { id sha256 size } }`, { id: assetId }, token);
    expect(d.asset).toEqual({ id: assetId, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
  });
});
