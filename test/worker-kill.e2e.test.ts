import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, type Chest, ChestEvent } from '../src/db/entities/index.js';
import { ChestEventKind, ProcessingStatus } from '../src/db/enums.js';
import { derivativePrefix } from '../src/domain/processing/derivatives.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { eventually } from './support/client.js';
import type { TestDatabase } from './support/db.js';
import { makeAccount, makeChest } from './support/factories.js';
import { jpegWithExif } from './support/media.js';
import { type ProductProcess, startWorkerProcess } from './support/processes.js';
import { openWorkerRig, type WorkerRig } from './support/worker-rig.js';

const JOBS = 120;

/**
 * Workers die without warning (OOM killer, a pulled plug). Two worker processes take 120 jobs
 * while one of them is SIGKILLed every second or so and started again. In the end every asset is
 * COMPLETE or FAILED with a reason, none is left pending or processing, and nothing was done twice
 * (one set of thumbnails per asset, one completion event per asset).
 */
describe('SIGKILL of workers mid-job, over 120 jobs', () => {
  let rig: WorkerRig;
  let db: TestDatabase;
  let storage: StorageBackend;
  let queue: JobQueue;
  let env: Record<string, string>;
  const workers: ProductProcess[] = [];

  beforeAll(async () => {
    rig = await openWorkerRig('kill', {
      WORKER_CONCURRENCY: '2',
      // The shortest lease pg-boss allows, checked every second, and plenty of quick retries.
      JOB_HEARTBEAT_SECONDS: '10',
      JOB_SUPERVISE_SECONDS: '1',
      JOB_RETRY_LIMIT: '8',
      JOB_RETRY_DELAY_SECONDS: '1',
    });
    ({ db, storage, queue, env } = rig);
  });

  const addPhoto = (chest: Chest, name: string, photo: Buffer) => rig.store(chest, { filename: `${name}.jpg`, bytes: photo });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await rig?.close();
  });

  it('ends with every asset COMPLETE or FAILED with a reason, none stuck, none duplicated', { timeout: 420_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const photos = await Promise.all([0, 1, 2, 3].map((i) => jpegWithExif({ dateTimeOriginal: `199${i}:01:02 03:04:05` }, 3000, 2250, ['#a53', '#3a5', '#35a', '#aa3'][i])));
    const ids: string[] = [];
    for (let i = 0; i < JOBS; i++) ids.push(await addPhoto(chest, `p${i}`, photos[i % photos.length]!));

    workers.push(await startWorkerProcess(env), await startWorkerProcess(env));
    let kills = 0;
    let killedMidJob = 0;
    const unfinished = async () =>
      db.orm.em.fork().count(Asset, { chest: chest.id, status: { $in: [ProcessingStatus.PENDING, ProcessingStatus.PROCESSING] } });
    // A worker has a job in hand when its log shows an asset it started and has not finished.
    const inHand = (w: ProductProcess) => {
      const started = w.logs.filter((l) => l.msg === 'processing').map((l) => l.assetId);
      const ended = new Set(w.logs.filter((l) => l.msg === 'processed' || l.msg === 'processing failed').map((l) => l.assetId));
      return started.filter((id) => !ended.has(id)).length;
    };
    // Again and again: pick a worker, wait until it holds a job, SIGKILL it, start a new one.
    while ((await unfinished()) > 0 && kills < 20) {
      const i = kills % workers.length;
      const victim = workers[i]!;
      const busy = await eventually(async () => (inHand(victim) > 0 ? true : (await unfinished()) === 0 ? false : undefined), 20_000, 25).catch(() => false);
      await new Promise((r) => setTimeout(r, Math.random() * 150));
      await victim.kill('SIGKILL');
      kills++;
      if (busy) killedMidJob++;
      workers[i] = await startWorkerProcess(env);
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(killedMidJob).toBeGreaterThanOrEqual(5);

    // Dead workers' jobs come back after their lease (10 s) and finish on the survivors.
    await eventually(async () => ((await unfinished()) === 0 ? true : undefined), 240_000, 1000);
    const counts = await eventually(async () => {
      const c = await queue.counts('asset.process');
      return c.created + c.retry + c.active === 0 ? c : undefined;
    }, 60_000, 500);
    expect(counts.completed + counts.failed).toBe(JOBS);

    const assets = await db.orm.em.fork().find(Asset, { chest: chest.id });
    expect(assets).toHaveLength(JOBS);
    for (const a of assets) {
      expect([ProcessingStatus.COMPLETE, ProcessingStatus.FAILED]).toContain(a.status);
      if (a.status === ProcessingStatus.FAILED) expect(a.processingError).toMatch(/\w+/);
      if (a.status !== ProcessingStatus.COMPLETE) continue;
      expect(a.thumbnails.map((t) => t.name).sort()).toEqual(['1024', '256']);
      expect(a.dateTaken).not.toBeNull();
      const stored: string[] = [];
      for await (const o of storage.list(derivativePrefix(a))) stored.push(o.key);
      expect(stored.sort()).toEqual(a.thumbnails.map((t) => t.storageKey).sort());
    }
    const complete = assets.filter((a) => a.status === ProcessingStatus.COMPLETE).length;
    expect(complete).toBeGreaterThan(JOBS * 0.9);

    // One completion event per completed asset: no job's work was applied twice.
    const events = await db.orm.em.fork().find(ChestEvent, { chest: chest.id, kind: ChestEventKind.ASSET_PROCESSING });
    const completions = events.filter((e) => e.data?.stage === 'done').map((e) => e.assetId);
    expect(completions).toHaveLength(complete);
    expect(new Set(completions).size).toBe(complete);
    // One AI step per completed asset: a stale attempt woken after its job went elsewhere adds none.
    const pg = await db.orm.em.getConnection().getNativeClient();
    const analyse = await pg.query<{ asset_id: string; n: number }>(
      `select data->>'assetId' as asset_id, count(*)::int as n from pgboss.job where name = 'asset.analyse' group by 1`,
    );
    const completed = assets.filter((a) => a.status === ProcessingStatus.COMPLETE).map((a) => a.id);
    expect(analyse.rows.map((r) => r.asset_id).sort()).toEqual(completed.sort());
    expect(analyse.rows.filter((r) => r.n !== 1)).toEqual([]);
    // Some jobs really were interrupted and taken up again by another worker.
    const { rows } = await pg.query<{ n: number }>(
      `select count(*)::int as n from pgboss.job where name = 'asset.process' and retry_count > 0`,
    );
    expect(rows[0]!.n).toBeGreaterThan(0);
    await Promise.all(workers.splice(0).map((w) => w.kill('SIGKILL')));
  });

  it('on SIGTERM finishes the jobs in hand, takes no new ones, and exits cleanly', { timeout: 180_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const photo = await jpegWithExif({}, 5000, 3750, '#6a4');
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await addPhoto(chest, `big${i}`, photo));
    const worker = await startWorkerProcess({ ...env, WORKER_CONCURRENCY: '1', SHUTDOWN_TIMEOUT_SECONDS: '60' });
    workers.push(worker);
    const statusOf = async () => (await db.orm.em.fork().find(Asset, { id: { $in: ids } })).map((a) => a.status);
    // Wait until a job is in hand (the asset is being processed), then ask the worker to stop.
    await eventually(async () => ((await statusOf()).includes(ProcessingStatus.PROCESSING) ? true : undefined), 60_000, 50);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    const statuses = await statusOf();
    // The job in hand finished; nothing was left half-done; the rest wait in the queue.
    expect(statuses).not.toContain(ProcessingStatus.PROCESSING);
    expect(statuses.filter((s) => s === ProcessingStatus.COMPLETE).length).toBeGreaterThanOrEqual(1);
    expect(statuses.filter((s) => s === ProcessingStatus.PENDING).length).toBeGreaterThanOrEqual(1);
    expect(worker.logs.some((l) => l.msg === 'worker stopped')).toBe(true);
    const counts = await queue.counts('asset.process');
    expect(counts.active).toBe(0);
  });
});
