import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Asset } from '../src/db/entities/index.js';
import { FileType, ProcessingStatus } from '../src/db/enums.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { eventually } from './support/client.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeChest } from './support/factories.js';
import { buildPdf } from './support/media.js';
import { type ProductProcess, startWorkerProcess } from './support/processes.js';

/**
 * SIGTERM with a job that cannot finish within SHUTDOWN_TIMEOUT_SECONDS (a 6,000-page diary takes
 * seconds to read): the worker still exits cleanly on time, the job goes back to the queue rather
 * than staying active, and the next worker finishes it — nothing is lost and nothing is stuck.
 */
describe('a worker stopped while a job outlasts the shutdown timeout', () => {
  let db: TestDatabase;
  let dataDir: string;
  let storage: StorageBackend;
  let queue: JobQueue;
  let env: Record<string, string>;
  const workers: ProductProcess[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-shutdown-'));
    env = {
      DATABASE_URL: db.url,
      DATA_DIR: dataDir,
      SWEEP_INTERVAL_MINUTES: '0',
      WORKER_CONCURRENCY: '1',
      JOB_SUPERVISE_SECONDS: '1',
      JOB_RETRY_DELAY_SECONDS: '1',
    };
    storage = await createStorage(loadConfig(env).storage);
    queue = await createPgBossQueue({ url: db.url, supervise: false, retry: loadConfig(env).jobs.retry, log: pino({ level: 'silent' }) });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await queue?.stop();
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('releases the job in hand after the timeout, exits 0, and another worker finishes it', { timeout: 240_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const pages = Array.from({ length: 6_000 }, (_, i) => [`Page ${i + 1} of the diary.`, 'Rose wrote about the garden and the choir.']);
    const pdf = buildPdf(pages);
    const asset = em.create(Asset, {
      chest,
      filename: 'diary.pdf',
      storageKey: `chests/${chest.id}/originals/${randomUUID()}`,
      fileType: FileType.DOCUMENT,
      size: pdf.length,
      mimeType: 'application/pdf',
      sha256: randomBytes(32).toString('hex'),
    } as never);
    await storage.put(asset.storageKey, Readable.from([pdf]), { size: pdf.length });
    await em.transactional(async (tx) => {
      tx.persist(asset);
      await tx.flush();
      await queue.enqueue(tx, 'asset.process', { assetId: asset.id });
    });

    const first = await startWorkerProcess({ ...env, SHUTDOWN_TIMEOUT_SECONDS: '1' });
    workers.push(first);
    await first.waitForLog((l) => l.msg === 'processing' && l.assetId === asset.id);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.logs.some((l) => l.msg === 'processed')).toBe(false);
    // Released, not left active: the queue holds it for a retry.
    const counts = await queue.counts('asset.process');
    expect(counts).toMatchObject({ active: 0, completed: 0 });
    expect(counts.retry + counts.created).toBe(1);
    const left = await db.orm.em.fork().findOneOrFail(Asset, { id: asset.id });
    expect(left.status).not.toBe(ProcessingStatus.COMPLETE);

    const second = await startWorkerProcess(env);
    workers.push(second);
    const done = await eventually(async () => {
      const a = await db.orm.em.fork().findOneOrFail(Asset, { id: asset.id });
      return a.status === ProcessingStatus.COMPLETE ? a : undefined;
    }, 180_000, 500);
    expect(done.extractedText).toContain('Page 6000 of the diary.');
    expect(done.processingAttempts).toBe(2);
    expect(await queue.counts('asset.process')).toMatchObject({ active: 0, retry: 0, created: 0, completed: 1 });
  });
});
