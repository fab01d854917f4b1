import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import type { Analysis } from '../src/db/entities/asset.types.js';
import { AnalysisRequest, Asset, Person } from '../src/db/entities/index.js';
import { FileType, ProcessingStatus, TagSource } from '../src/db/enums.js';
import { queueRequestedAnalyses } from '../src/domain/analysis/requested-analyses.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { startWorker } from '../src/worker/worker.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAsset, makeChest } from './support/factories.js';

/**
 * Memories whose models changed under them (AnalysisRequest, written by migrations) get the AI
 * step again from the worker, once each: on Postgres and on PGlite, where the queue shares the
 * one connection with the transaction.
 */
const log = pino({ level: 'silent' });
const described = (model: string): Analysis[] => [{ task: 'describeImage', status: 'DONE', provider: 'local', model, error: null, at: new Date() }];

describe.each(BACKENDS)('standing requests for the AI step, on %s', (backend) => {
  let db: TestDatabase;
  let queue: JobQueue;
  beforeAll(async () => {
    db = await createTestDatabase(backend);
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log, pollingIntervalSeconds: 0.5 });
  });
  afterAll(async () => {
    await queue?.stop({ timeoutMs: 5_000 });
    await db?.close();
  });

  const jobs = async (): Promise<string[]> =>
    (await db.orm.em.fork().execute<{ id: string }[]>(`select data->>'assetId' as id from pgboss.job where name = 'asset.analyse' order by 1`)).map((r) => r.id);

  it('become one job each, in batches, and are gone; a memory deleted, missing or not processed is dropped', { timeout: 60_000 }, async () => {
    const em = db.orm.em.fork();
    const chest = await makeChest(em);
    const done = { status: ProcessingStatus.COMPLETE };
    const requested: string[] = [];
    // More than one batch of 200.
    for (let i = 0; i < 230; i++) requested.push((await makeAsset(em, chest, done)).id);
    const deleted = await makeAsset(em, chest, { ...done, deletedAt: new Date() });
    const processing = await makeAsset(em, chest, { status: ProcessingStatus.PROCESSING });
    const missing = '00000000-0000-4000-8000-000000000001';
    const unasked = await makeAsset(em, chest, done);
    for (const id of [...requested, deleted.id, processing.id, missing]) em.create(AnalysisRequest, { assetId: id, reason: 'faces' });
    await em.flush();

    expect(await queueRequestedAnalyses({ em: db.orm.em, queue })).toBe(230);
    expect(await jobs()).toEqual([...requested].sort());
    expect(await jobs()).not.toContain(unasked.id);
    expect(await db.orm.em.fork().count(AnalysisRequest, {})).toBe(0);
    // Nothing left to ask: a second start queues nothing.
    expect(await queueRequestedAnalyses({ em: db.orm.em, queue })).toBe(0);
  });

  it('give no second job to a memory already queued, and are still used up', async () => {
    const em = db.orm.em.fork();
    const chest = await makeChest(em);
    const asset = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE });
    await em.transactional((tx) => queue.enqueue(tx, 'asset.analyse', { assetId: asset.id }));
    em.create(AnalysisRequest, { assetId: asset.id, reason: 'retired-describer' });
    await em.flush();
    expect(await queueRequestedAnalyses({ em: db.orm.em, queue })).toBe(0);
    expect((await jobs()).filter((id) => id === asset.id)).toHaveLength(1);
    expect(await db.orm.em.fork().count(AnalysisRequest, {})).toBe(0);
  });
});

/** The whole way on Postgres: what the migration asks for, the worker's start queues, and the real local AI step does. */
describe('a photo analysed before faces and objects, after the upgrade', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-requested-'));
  });
  afterAll(async () => {
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gets its people and the object model tags, and loses the colour ones', { timeout: 180_000 }, async () => {
    const storage = await createStorage({ kind: 'filesystem', root: dir });
    const em = db.orm.em.fork();
    const chest = await makeChest(em);
    const photo = join(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'), '..', 'demo', 'sample1.jpg');
    const asset = await makeAsset(em, chest, {
      status: ProcessingStatus.COMPLETE,
      fileType: FileType.IMAGE,
      mimeType: 'image/jpeg',
      tags: [{ name: 'birthday', source: TagSource.USER, confidence: 1 }, { name: 'yellow', source: TagSource.AI, confidence: 0.7 }],
      analyses: described('pixel-statistics-v1'),
    });
    await storage.put(asset.storageKey, Readable.from(await readFile(photo)));
    // As the analysis_requests migration finds it.
    await em.execute(`delete from analysis_request`);
    const before = await db.orm.migrator.getExecuted();
    const previous = before.findIndex((m) => m.name === 'Migration20261202070641_analysis_requests') - 1;
    await db.orm.migrator.down({ to: before[previous]!.name });
    await db.orm.migrator.up();
    expect((await db.orm.em.fork().find(AnalysisRequest, {})).map((r) => r.assetId)).toEqual([asset.id]);

    const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: dir, SECRET_KEY: 'test-secret-key-for-requested-analyses' });
    const queue = await createPgBossQueue({ orm: db.orm, supervise: true, superviseIntervalSeconds: 1, log, pollingIntervalSeconds: 0.5 });
    const worker = await startWorker({ orm: db.orm, storage, events: new InProcessEventBus(), log }, queue, config);
    try {
      let now: Asset | null = null;
      for (let i = 0; i < 300; i++) {
        now = await db.orm.em.fork().findOne(Asset, { id: asset.id });
        if (now && !now.analyses.some((r) => r.model === 'pixel-statistics-v1')) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(now!.analyses.find((r) => r.task === 'describeImage')).toMatchObject({ status: 'DONE', model: 'centernet-coco' });
      expect(now!.analyses.find((r) => r.task === 'faces')).toMatchObject({ status: 'DONE' });
      const names = now!.tags.map((t) => t.name);
      expect(names).toContain('birthday');
      expect(names).toContain('person');
      expect(names).not.toContain('yellow');
      expect(await db.orm.em.fork().count(Person, { chest: chest.id })).toBeGreaterThanOrEqual(2);
      expect(await db.orm.em.fork().count(AnalysisRequest, {})).toBe(0);
    } finally {
      await queue.stop({ timeoutMs: 5_000 });
      await worker.close();
    }
  });
});
