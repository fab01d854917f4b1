import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Asset, type Chest } from '../../src/db/entities/index.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import { createActor } from '../../src/domain/actor.js';
import { derivativePrefix } from '../../src/domain/processing/derivatives.js';
import { processAsset, type ProcessingDeps, recordProcessingGaveUp } from '../../src/domain/processing/processing.service.js';
import { retryProcessing } from '../../src/domain/processing/retry.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { storeOriginal } from '../support/worker-rig.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeChest } from '../support/factories.js';
import { jpegWithExif } from '../support/media.js';

/**
 * pg-boss gives a job to another worker when the first one's heartbeat lapses; the first attempt
 * may wake up later. Here the stale attempt (A) is held inside its download, after its claim,
 * while a newer attempt (B) runs; then A goes on. Whatever A does then, it changes nothing: the
 * asset keeps B's results, with one 'done' event and one asset.analyse job.
 */
describe('a stale processing attempt', () => {
  let db: TestDatabase;
  let dataDir: string;
  let storage: StorageBackend;
  let queue: JobQueue;
  let chest: Chest;
  let ownerId: string;
  let photo: Buffer;
  const events = new InProcessEventBus();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-stale-'));
    storage = await createStorage(loadConfig({ DATA_DIR: dataDir }).storage);
    queue = await createPgBossQueue({ url: db.url, supervise: false, log: pino({ level: 'silent' }) });
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    chest = await makeChest(em, {}, account);
    ownerId = account.id;
    photo = await jpegWithExif({ dateTimeOriginal: '1987:06:05 04:03:02' }, 800, 600);
  });

  afterAll(async () => {
    await queue?.stop();
    await events.close();
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A stored original and its memory, as a finished upload leaves them (PENDING, no attempts). */
  const addPhoto = (bytes = photo): Promise<string> => storeOriginal(db.orm, storage, chest, { filename: 'garden.jpg', bytes });

  /** Storage whose reads wait until released: an attempt that has claimed the asset is held in its download. */
  function heldStorage() {
    let reached!: () => void;
    let release!: () => void;
    const atGet = new Promise<void>((r) => (reached = r));
    const released = new Promise<void>((r) => (release = r));
    const held: StorageBackend = {
      kind: storage.kind,
      put: (...args) => storage.put(...args),
      stat: (key) => storage.stat(key),
      delete: (key) => storage.delete(key),
      list: (prefix) => storage.list(prefix),
      presignedGetUrl: (...args) => storage.presignedGetUrl(...args),
      putPart: (...args) => storage.putPart(...args),
      statPart: (...args) => storage.statPart(...args),
      listParts: (...args) => storage.listParts(...args),
      getPart: (...args) => storage.getPart(...args),
      deletePart: (...args) => storage.deletePart(...args),
      composeParts: (...args) => storage.composeParts(...args),
      async get(key, range) {
        reached();
        await released;
        return storage.get(key, range);
      },
    };
    return { storage: held, atGet, release };
  }

  /** Deps with their own log lines, so a test can tell which attempt said what. */
  function depsWith(store: StorageBackend) {
    const logs: Array<{ msg: string }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const deps: ProcessingDeps = { orm: db.orm, storage: store, events, log, queue };
    return { deps, logs };
  }

  const job = (name: string, assetId: string, signal = new AbortController().signal) => ({ id: `job-${name}`, data: { assetId }, attempt: 1, signal });

  /** Everything an attempt could write: the row, its events, its analyse jobs, its derivatives. */
  async function stateOf(assetId: string) {
    const pg = await db.orm.em.getConnection().getNativeClient();
    const row = (await pg.query('select * from asset where id = $1', [assetId])).rows[0] as Record<string, unknown>;
    const events = (await pg.query<{ seq: string; data: Record<string, unknown> }>('select seq, data from chest_event where asset_id = $1 order by seq', [assetId])).rows;
    const analyse = (await pg.query<{ n: number }>(`select count(*)::int as n from pgboss.job where name = 'asset.analyse' and data->>'assetId' = $1`, [assetId])).rows[0]!.n;
    const derivatives: string[] = [];
    for await (const o of storage.list(derivativePrefix({ id: assetId, chest: { id: chest.id } }))) derivatives.push(o.key);
    return { row, events, analyse, derivatives: derivatives.sort() };
  }

  /** The asset as the attempt that finished left it: complete, with what the pipeline learned. */
  function expectCompleted(state: Awaited<ReturnType<typeof stateOf>>, fence: number) {
    expect(state.row).toMatchObject({ status: ProcessingStatus.COMPLETE, progress: 100, processing_stage: 'done', processing_error: null, width: 800, height: 600, processing_attempts: fence });
    expect(new Date(state.row.date_taken as string).toISOString()).toBe('1987-06-05T04:03:02.000Z');
    expect((state.row.thumbnails as Array<{ name: string }>).map((t) => t.name).sort()).toEqual(['1024', '256']);
    expect(state.events.filter((e) => e.data.stage === 'done')).toHaveLength(1);
    expect(state.analyse).toBe(1);
    expect(state.derivatives).toHaveLength(2);
  }

  const superseded = (logs: Array<{ msg: string }>) => logs.filter((l) => /superseded/.test(l.msg));

  for (const aborted of [false, true]) {
    it(`wakes up after a newer attempt completed the asset${aborted ? ', its lease lost (signal aborted)' : ''}, and changes nothing`, async () => {
      const assetId = await addPhoto();
      const held = heldStorage();
      const a = depsWith(held.storage);
      const leaseA = new AbortController();
      const runA = processAsset(a.deps, job('a', assetId, leaseA.signal));
      await held.atGet;

      await processAsset(depsWith(storage).deps, job('b', assetId));
      const afterB = await stateOf(assetId);
      // A claimed 0 → 1, B claimed 1 → 2.
      expectCompleted(afterB, 2);

      if (aborted) leaseA.abort(new Error('job lease lost'));
      held.release();
      await expect(runA).resolves.toBeUndefined();
      expect(await stateOf(assetId)).toEqual(afterB);
      expect(superseded(a.logs)).toHaveLength(1);
      expect(a.logs.filter((l) => l.msg === 'processed' || /failed/.test(l.msg))).toEqual([]);

      // The dead-letter step, late as well, leaves a complete asset alone.
      await recordProcessingGaveUp(depsWith(storage).deps, assetId);
      expect(await stateOf(assetId)).toEqual(afterB);
    });
  }

  it('is fenced at its first stage report when a newer attempt claimed the asset in between', async () => {
    const assetId = await addPhoto();
    const heldA = heldStorage();
    const heldB = heldStorage();
    const a = depsWith(heldA.storage);
    const runA = processAsset(a.deps, job('a', assetId));
    await heldA.atGet;
    const runB = processAsset(depsWith(heldB.storage).deps, job('b', assetId));
    await heldB.atGet;
    const claimedByB = await stateOf(assetId);
    expect(claimedByB.row).toMatchObject({ status: ProcessingStatus.PROCESSING, processing_attempts: 2 });

    // A downloads, reaches its first stage report, finds the asset claimed by B and stops there.
    heldA.release();
    await expect(runA).resolves.toBeUndefined();
    expect(await stateOf(assetId)).toEqual(claimedByB);
    expect(superseded(a.logs)).toHaveLength(1);

    heldB.release();
    await expect(runB).resolves.toBeUndefined();
    const done = await stateOf(assetId);
    expectCompleted(done, 2);
    // Two claims (A's, then B's), then B's stages only.
    expect(done.events.map((e) => e.data.stage)).toEqual(['download', 'download', 'decode', 'thumbnails', 'fingerprints', 'fingerprints', 'done']);
  });

  /** The ORM for an attempt that reads the asset, then waits for `meanwhile` before it claims it. */
  function pausedAfterRead(meanwhile: () => Promise<void>): ProcessingDeps['orm'] {
    const fork = () => {
      const em = db.orm.em.fork();
      const read = em.findOne.bind(em) as (...args: unknown[]) => Promise<unknown>;
      return Object.assign(em, { findOne: async (...args: unknown[]) => read(...args).finally(meanwhile) });
    };
    return new Proxy(db.orm, { get: (orm, prop) => (prop === 'em' ? { fork } : Reflect.get(orm, prop)) });
  }

  it('returns quietly when another attempt claims the asset between its read and its claim', async () => {
    const assetId = await addPhoto();
    const a = depsWith(storage);
    // A reads the asset (0 attempts); B claims and completes it before A's claim runs.
    const orm = pausedAfterRead(() => processAsset(depsWith(storage).deps, job('b', assetId)));
    await expect(processAsset({ ...a.deps, orm }, job('a', assetId))).resolves.toBeUndefined();
    expectCompleted(await stateOf(assetId), 1);
    expect(a.logs.map((l) => l.msg)).toEqual(['processing skipped: another attempt holds this asset, or it is done']);
  });

  it('claims an asset an owner sent through processing again', async () => {
    const assetId = await addPhoto(Buffer.from('not a photo at all'));
    await processAsset(depsWith(storage).deps, job('first', assetId));
    expect((await stateOf(assetId)).row).toMatchObject({ status: ProcessingStatus.FAILED, processing_attempts: 1 });

    // The server can read it now (a fixed file here); the owner retries.
    const { row } = await stateOf(assetId);
    await storage.delete(row.storage_key as string);
    await storage.put(row.storage_key as string, Readable.from([photo]), { size: photo.length });
    const em = db.orm.em.fork();
    await retryProcessing(em, createActor(em, ownerId), assetId, queue, events);
    const retried = (await stateOf(assetId)).row;
    expect(retried).toMatchObject({ status: ProcessingStatus.PENDING });

    await processAsset(depsWith(storage).deps, job('retried', assetId));
    expectCompleted(await stateOf(assetId), (retried.processing_attempts as number) + 1);
  });

  it('stays fenced across an owner\'s retry: a stale attempt from before it cannot write over the new run', async () => {
    const assetId = await addPhoto(Buffer.from('not a photo at all'));
    // A claims (0 → 1) and is held in its download.
    const heldA = heldStorage();
    const a = depsWith(heldA.storage);
    const runA = processAsset(a.deps, job('a', assetId));
    await heldA.atGet;
    // B takes over (1 → 2) and fails for good on the unreadable file.
    await processAsset(depsWith(storage).deps, job('b', assetId));
    expect((await stateOf(assetId)).row).toMatchObject({ status: ProcessingStatus.FAILED, processing_attempts: 2 });

    // The file is fixed and an owner retries; the run after it completes the asset.
    const { row } = await stateOf(assetId);
    await storage.delete(row.storage_key as string);
    await storage.put(row.storage_key as string, Readable.from([photo]), { size: photo.length });
    const em = db.orm.em.fork();
    await retryProcessing(em, createActor(em, ownerId), assetId, queue, events);
    await processAsset(depsWith(storage).deps, job('c', assetId));
    const done = await stateOf(assetId);
    expectCompleted(done, 3);

    // A wakes up holding fence 1, which never comes round again.
    heldA.release();
    await expect(runA).resolves.toBeUndefined();
    expect(await stateOf(assetId)).toEqual(done);
    expect(superseded(a.logs)).toHaveLength(1);
  });

  it('keeps a date a person set while the attempt was running, rather than the photo\'s EXIF date', async () => {
    const assetId = await addPhoto();
    const held = heldStorage();
    const run = processAsset(depsWith(held.storage).deps, job('a', assetId));
    await held.atGet;
    // Someone who knows better says when it was taken (the EXIF says 1987).
    const remembered = new Date('1962-07-14T00:00:00Z');
    await db.orm.em.fork().nativeUpdate(Asset, { id: assetId }, { dateTaken: remembered });
    held.release();
    await run;
    const { row } = await stateOf(assetId);
    expect(row).toMatchObject({ status: ProcessingStatus.COMPLETE });
    expect(new Date(row.date_taken as string).toISOString()).toBe(remembered.toISOString());
  });
});
