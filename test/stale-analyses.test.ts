import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Analysis } from '../src/db/entities/asset.types.js';
import { Asset } from '../src/db/entities/index.js';
import { ProcessingStatus, TagSource } from '../src/db/enums.js';
import { queueStaleAnalyses } from '../src/domain/analysis/stale-analyses.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { startWorker } from '../src/worker/worker.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAsset, makeChest } from './support/factories.js';

/**
 * Memories the first local describer (pixel statistics) described get the AI step again from the
 * worker, once each: on Postgres and on PGlite, where the queue shares the one connection.
 */
const log = pino({ level: 'silent' });
const described = (model: string): Analysis[] => [{ task: 'describeImage', status: 'DONE', provider: 'local', model, error: null, at: new Date() }];

describe.each(BACKENDS)('memories a retired describer described, on %s', (backend) => {
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

  it('are queued once each, in batches, and no others', { timeout: 60_000 }, async () => {
    const em = db.orm.em.fork();
    const chest = await makeChest(em);
    const done = { status: ProcessingStatus.COMPLETE };
    const stale: string[] = [];
    // More than one batch of 200.
    for (let i = 0; i < 230; i++) stale.push((await makeAsset(em, chest, { ...done, analyses: described('pixel-statistics-v1') })).id);
    const current = await makeAsset(em, chest, { ...done, analyses: described('centernet-coco') });
    const deleted = await makeAsset(em, chest, { ...done, analyses: described('pixel-statistics-v1'), deletedAt: new Date() });
    const processing = await makeAsset(em, chest, { status: ProcessingStatus.PROCESSING, analyses: described('pixel-statistics-v1') });
    const gaveUp = await makeAsset(em, chest, { ...done, analyses: [...described('pixel-statistics-v1'), { task: 'analyse', status: 'FAILED', provider: null, model: null, error: 'gave up', at: new Date() }] });

    expect(await queueStaleAnalyses({ em: db.orm.em, queue })).toBe(230);
    expect(await jobs()).toEqual([...stale].sort());
    for (const id of [current.id, deleted.id, processing.id, gaveUp.id]) expect(await jobs()).not.toContain(id);
    // A second start while they wait queues nothing more.
    expect(await queueStaleAnalyses({ em: db.orm.em, queue })).toBe(0);
    expect((await jobs()).length).toBe(230);
  });

  it('leave the set once the AI step described them again', { timeout: 60_000 }, async () => {
    const em = db.orm.em.fork();
    await em.execute(`delete from pgboss.job where name = 'asset.analyse'`);
    await em.execute(`update asset set analyses = ?::jsonb where analyses @> '[{"model": "pixel-statistics-v1"}]'::jsonb`, [JSON.stringify(described('centernet-coco'))]);
    expect(await queueStaleAnalyses({ em: db.orm.em, queue })).toBe(0);
  });
});

/** The whole way on the embedded default: the worker's start queues it, the real local AI step replaces the colour guesses. */
describe('a photo described by pixel statistics, after the upgrade', () => {
  let db: TestDatabase;
  let dir: string;
  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-stale-'));
  });
  afterAll(async () => {
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('gets tags from the object model and loses the colour ones', { timeout: 180_000 }, async () => {
    const storage = await createStorage({ kind: 'filesystem', root: dir });
    const em = db.orm.em.fork();
    const chest = await makeChest(em);
    const photo = join(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'), '..', 'demo', 'sample1.jpg');
    const asset = await makeAsset(em, chest, {
      status: ProcessingStatus.COMPLETE,
      mimeType: 'image/jpeg',
      caption: null,
      tags: [{ name: 'birthday', source: TagSource.USER, confidence: 1 }, { name: 'yellow', source: TagSource.AI, confidence: 0.7 }],
      analyses: described('pixel-statistics-v1'),
    });
    await storage.put(asset.storageKey, Readable.from(await readFile(photo)));
    const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: dir, SECRET_KEY: 'test-secret-key-for-stale-analyses' });
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
      const names = now!.tags.map((t) => t.name);
      expect(names).toContain('birthday');
      expect(names).toContain('person');
      expect(names).not.toContain('yellow');
    } finally {
      await queue.stop({ timeoutMs: 5_000 });
      await worker.close();
    }
  });
});
