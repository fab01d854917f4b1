import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually } from './support/client.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { jpegWithExif } from './support/media.js';
import { type ProductProcess, startApi, startWorkerProcess } from './support/processes.js';

/**
 * Served mode as deployed: two API processes and two worker processes on one PostgreSQL and one
 * file store. A client subscribed on API #1 sees the progress of jobs that either worker ran,
 * for uploads that came in through API #2: events cross processes through LISTEN/NOTIFY.
 */
describe('two API processes and two workers on Postgres', () => {
  let db: TestDatabase;
  let dataDir: string;
  const procs: ProductProcess[] = [];
  let api1: string;
  let api2: string;
  let workers: ProductProcess[];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-multi-'));
    const env = { DATABASE_URL: db.url, DATA_DIR: dataDir, SECRET_KEY: 'a-shared-secret-of-32-characters-or-more', SWEEP_INTERVAL_MINUTES: '0', WORKER_CONCURRENCY: '1' };
    // One at a time: the first process migrates; starting four tsx processes at once on two cores is slow.
    const a = await startApi(env);
    const b = await startApi(env);
    procs.push(a.proc, b.proc);
    api1 = a.url;
    api2 = b.url;
    workers = [await startWorkerProcess(env), await startWorkerProcess(env)];
    procs.push(...workers);
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('delivers every stage of jobs run by either worker to a subscriber on the other API', { timeout: 180_000 }, async () => {
    const one = apiClient(api1);
    const two = apiClient(api2);
    const token = await one.signUp('multi@example.com');
    const chestId = await one.createChest(token);
    const COUNT = 12;

    const ws = one.ws(token);
    const seen = one.collect(
      ws,
      `subscription($c: ID!) { assetProcessing(chestId: $c) { stage status asset { id } } }`,
      { c: chestId },
      (all) => all.filter((r) => r.data?.assetProcessing.stage === 'done').length === COUNT,
    );
    const added = one.collect(ws, `subscription($c: ID!) { memoryAdded(chestId: $c) { id } }`, { c: chestId }, (all) => all.length === COUNT);
    await new Promise<void>((resolve, reject) => ws.subscribe({ query: '{ __typename }' }, { next: () => undefined, error: reject, complete: resolve }));

    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      // Distinct, fairly large photos, so jobs take long enough for both workers to get some.
      const photo = await jpegWithExif({}, 2400, 1800, `#${(0x200000 + i * 0x0a0b0c).toString(16).slice(-6)}`);
      ids.push(await two.upload(token, chestId, photo, `p${i}.jpg`, 'image/jpeg'));
    }
    const events = (await seen.done).map((r) => r.data!.assetProcessing).filter((e) => e.stage !== 'analysed');
    expect((await added.done).map((r) => r.data!.memoryAdded.id).sort()).toEqual([...ids].sort());
    await ws.dispose();

    for (const id of ids) {
      expect(events.filter((e) => e.asset.id === id).map((e) => e.stage)).toEqual(['download', 'decode', 'thumbnails', 'fingerprints', 'fingerprints', 'done']);
    }
    // Both workers ran jobs, and the subscriber on API #1 saw all of them complete.
    // A worker logs 'processed' just after publishing 'done': wait for the last lines to arrive.
    const ranBy = await eventually(async () => {
      const sets = workers.map((w) => new Set(w.logs.filter((l) => l.msg === 'processed').map((l) => l.assetId as string)));
      return sets[0]!.size + sets[1]!.size >= COUNT ? sets : undefined;
    }, 30_000, 100);
    expect(ranBy[0]!.size).toBeGreaterThan(0);
    expect(ranBy[1]!.size).toBeGreaterThan(0);
    expect(new Set([...ranBy[0]!, ...ranBy[1]!])).toEqual(new Set(ids));
    // No job ran twice.
    expect(ranBy[0]!.size + ranBy[1]!.size).toBe(COUNT);
  });
});
