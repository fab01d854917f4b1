import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { loadConfig } from '../../src/config.js';
import { Asset, type Chest } from '../../src/db/entities/index.js';
import { FileType } from '../../src/db/enums.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from './db.js';

/** A file as it arrives from an upload. */
export interface Original {
  filename: string;
  bytes: Buffer;
  fileType?: FileType;
  mimeType?: string;
}

/**
 * A stored original and its memory (PENDING, no attempts), as a finished upload leaves them; with
 * its processing job, committed together, when a queue is given.
 */
export async function storeOriginal(orm: MikroORM, storage: StorageBackend, chest: Chest, file: Original, queue?: JobQueue): Promise<string> {
  const em = orm.em.fork();
  const asset = em.create(Asset, {
    chest,
    filename: file.filename,
    storageKey: `chests/${chest.id}/originals/${randomUUID()}`,
    fileType: file.fileType ?? FileType.IMAGE,
    size: file.bytes.length,
    mimeType: file.mimeType ?? 'image/jpeg',
    sha256: randomBytes(32).toString('hex'),
  } as never);
  await storage.put(asset.storageKey, Readable.from([file.bytes]), { size: file.bytes.length });
  await em.transactional(async (tx) => {
    tx.persist(asset);
    await tx.flush();
    if (queue) await queue.enqueue(tx, 'asset.process', { assetId: asset.id });
  });
  return asset.id;
}

/** What the tests that start worker processes share: a database, a file store, and a queue to fill. */
export interface WorkerRig {
  db: TestDatabase;
  storage: StorageBackend;
  queue: JobQueue;
  /** The workers' environment (database, files, no sweeps, plus what the test gave). */
  env: Record<string, string>;
  store(chest: Chest, file: Original): Promise<string>;
  close(): Promise<void>;
}

export async function openWorkerRig(name: string, env: Record<string, string>): Promise<WorkerRig> {
  const db = await createTestDatabase('postgres');
  const dataDir = await mkdtemp(join(tmpdir(), `dmc-${name}-`));
  const full = { DATABASE_URL: db.url, DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY, SWEEP_INTERVAL_MINUTES: '0', ...env };
  const config = loadConfig(full);
  const storage = await createStorage(config.storage);
  // The same policy as the workers': pg-boss copies it into each job when the job is added.
  const queue = await createPgBossQueue({ url: db.url, supervise: false, retry: config.jobs.retry, log: pino({ level: 'silent' }) });
  return {
    db,
    storage,
    queue,
    env: full,
    store: (chest, file) => storeOriginal(db.orm, storage, chest, file, queue),
    async close() {
      await queue.stop();
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
