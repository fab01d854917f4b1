import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createPgBossQueue, type PgBossQueueOptions } from '../../src/jobs/pg-boss.queue.js';
import { type Backend, createTestDatabase, type TestDatabase } from '../support/db.js';
import { CONTRACT_RETRY, jobQueueContract, type OpenedQueue, waitUntil } from './jobs.contract.js';

const ROOT = join(import.meta.dirname, '..', '..');
const log = pino({ level: 'silent' });
// Fast pickup and supervision so retries and dead letters take seconds, not minutes.
const fast = { supervise: true, superviseIntervalSeconds: 1, pollingIntervalSeconds: 0.5, log } satisfies Partial<PgBossQueueOptions>;

// One database per backend for the whole file (a PGlite takes seconds to migrate); each queue the
// contract opens starts from an empty job table.
const databases = new Map<Backend, Promise<TestDatabase>>();
const database = (backend: Backend) => {
  let db = databases.get(backend);
  if (!db) databases.set(backend, (db = createTestDatabase(backend)));
  return db;
};
afterAll(async () => {
  for (const db of databases.values()) await (await db).close();
});

async function openOn(backend: Backend, connect: (db: TestDatabase) => Pick<PgBossQueueOptions, 'url' | 'orm'>): Promise<OpenedQueue> {
  const db = await database(backend);
  const queue = await createPgBossQueue({ ...connect(db), ...fast, retry: CONTRACT_RETRY });
  // After start (pg-boss creates its schema then) and before any work() call, so nothing is in flight.
  await db.orm.em.fork().execute('delete from pgboss.job');
  return { queue, orm: db.orm, close: () => queue.stop({ timeoutMs: 5_000 }) };
}

jobQueueContract('postgres (own pool)', () => openOn('postgres', (db) => ({ url: db.url })));
jobQueueContract('pglite (through the ORM)', () => openOn('pglite', (db) => ({ orm: db.orm })));

describe('pg-boss on postgres: the lease of a worker that dies', () => {
  it('gives the job of a worker killed mid-job to another worker, as attempt 2', { timeout: 60_000 }, async () => {
    const db = await createTestDatabase('postgres');
    const retry = { ...CONTRACT_RETRY, heartbeatSeconds: 10 };
    // The survivor: it enqueues and supervises now, and works only once the holder is dead.
    const survivor = await createPgBossQueue({ url: db.url, ...fast, retry });
    const holder = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/hold-job.ts', db.url, JSON.stringify(retry)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    holder.stdout.on('data', (d: Buffer) => (output += d.toString()));
    holder.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) => holder.once('exit', (_code, signal) => resolve(signal)));
    const lines = () =>
      output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { taken?: string; attempt?: number; ready?: boolean });
    try {
      const assetId = '3f1c2a9e-0000-4000-8000-000000000001';
      const id = await db.orm.em.fork().transactional((tx) => survivor.enqueue(tx, 'asset.process', { assetId }));
      await waitUntil(() => lines().some((l) => l.taken === id) || holder.exitCode !== null, () => `the holder takes the job (output: ${output})`, 30_000);
      expect(lines().filter((l) => l.taken), output).toEqual([{ taken: id, attempt: 1 }]);

      holder.kill('SIGKILL');
      expect(await exited).toBe('SIGKILL');
      // Nobody completed or released it: it stays active until its heartbeat lapses.
      expect(await survivor.counts('asset.process')).toMatchObject({ active: 1, created: 0, retry: 0 });

      const taken: { id: string; assetId: string; attempt: number }[] = [];
      await survivor.work('asset.process', { concurrency: 1 }, async (job) => void taken.push({ id: job.id, assetId: job.data.assetId, attempt: job.attempt }));
      // Due after heartbeatSeconds (10) + a supervision pass (1) + the retry delay (1); the bound
      // leaves room for a slow machine yet fails when supervision only looks once a minute.
      await waitUntil(() => taken.length > 0, 'the survivor takes the dead worker’s job', 30_000);
      expect(taken).toEqual([{ id, assetId, attempt: 2 }]);
      await waitUntil(async () => (await survivor.counts('asset.process')).completed === 1, 'the job completes');
    } finally {
      if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
      await survivor.stop({ timeoutMs: 5_000 });
      await db.close();
    }
  });
});
