import { fromKysely, PgBoss, type Db } from 'pg-boss';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { DatabaseTimeouts } from '../config.js';
import { boundedWaits, ClosingOnReadTimeoutClient } from '../db/bounded-waits.js';
import type { Logger } from '../logger.js';
import { DEFAULT_RETRY_POLICY, type JobHandler, type JobPayloads, type JobQueue, type QueueName, type RetryPolicy, type WorkOptions } from './jobs.port.js';

/** pg-boss keeps its tables in their own schema, apart from the app's (and its migrations). */
export const BOSS_SCHEMA = 'pgboss';
/** EnqueueOptions.background: below every ordinary job (priority 0). */
const BACKGROUND_PRIORITY = -10;

export interface PgBossQueueOptions {
  /** Served mode: pg-boss's own pool (and LISTEN for fast pickup) on this URL. */
  url?: string;
  /** Served mode: the same bounds on waiting for the database as the ORM's (db/bounded-waits.ts). */
  timeouts?: DatabaseTimeouts;
  /** Embedded mode: every statement through the ORM's one connection (PGlite is single-session). */
  orm?: MikroORM;
  /** Only processes that run jobs supervise (retry expired or silent jobs, clean up). */
  supervise: boolean;
  retry?: Partial<RetryPolicy>;
  /** Seconds between supervision passes; small in tests so a dead worker's job comes back fast. */
  superviseIntervalSeconds?: number;
  pollingIntervalSeconds?: number;
  log: Logger;
}

/**
 * pg-boss: a mature PostgreSQL queue (SKIP LOCKED fetching, retries with exponential backoff, dead
 * letter queues, heartbeats that give a dead worker's job to another within heartbeatSeconds). It
 * runs on the database we already have and enqueues inside our transactions through an adapter.
 * Chosen over graphile-worker because that one only reclaims a crashed worker's job after four hours.
 */
export async function createPgBossQueue(opts: PgBossQueueOptions): Promise<JobQueue> {
  const policy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
  const db: Db | undefined = opts.orm ? ormDb(await opts.orm.em.getConnection().getNativeClient()) : undefined;
  const boss = new PgBoss({
    // A hung database must not hold a worker's fetch or a job's completion for ever: the pool's
    // waits are bounded, and a connection whose answer never came is closed, not reused.
    ...(db ? { db } : { connectionString: opts.url, max: 4, application_name: 'memory-chest-jobs', ...poolBounds(opts.timeouts) }),
    schema: BOSS_SCHEMA,
    supervise: opts.supervise,
    schedule: false,
    superviseIntervalSeconds: opts.superviseIntervalSeconds ?? 10,
    // Expired jobs and lost heartbeats are found in the monitor pass, which pg-boss runs per queue
    // at most every monitorIntervalSeconds (default 60): without this a dead worker's job waits a minute.
    monitorIntervalSeconds: opts.superviseIntervalSeconds ?? 10,
    migrate: true,
  });
  boss.on('error', (err: unknown) => opts.log.error({ err }, 'job queue error'));
  await boss.start();
  // The processes that run jobs own the retry policy; the others only make sure the queues exist.
  // (pg-boss copies the policy into each job when it is added.)
  const ensureQueue = async (name: string, options: Parameters<PgBoss['createQueue']>[1]) => {
    await boss.createQueue(name, options);
    if (opts.supervise) await boss.updateQueue(name, options);
  };
  const main = {
    retryLimit: policy.retryLimit,
    retryDelay: policy.retryDelaySeconds,
    retryBackoff: true,
    retryDelayMax: policy.retryDelayMaxSeconds,
    heartbeatSeconds: policy.heartbeatSeconds,
    expireInSeconds: policy.expireInSeconds,
  };
  const deadLetter = { retryLimit: 5, retryDelay: 10, retryBackoff: true, expireInSeconds: 300 };
  // Each work queue hands its exhausted jobs to "<name>.failed", whose handler records why.
  for (const name of ['asset.process', 'asset.analyse', 'story.generate', 'chest.export', 'chest.import'] as const) {
    await ensureQueue(`${name}.failed`, deadLetter);
    await ensureQueue(name, { ...main, deadLetter: `${name}.failed` });
  }
  // Until it succeeds non-members get no picture of the photo: retried, with nothing to record when it gives up.
  await ensureQueue('faces.redact', main);
  const pollingIntervalSeconds = opts.pollingIntervalSeconds ?? 1;

  return {
    backend: db ? 'pg-boss-embedded' : 'pg-boss',
    async enqueue(tx, queue, data, options) {
      // pg-boss takes higher priorities first, then the oldest: ordinary jobs are 0.
      const id = await boss.send(queue, data, { db: transactionDb(tx), ...(options?.background && { priority: BACKGROUND_PRIORITY }) });
      if (!id) throw new Error(`job queue refused a ${queue} job`);
      return id;
    },
    async work<Q extends QueueName>(queue: Q, options: WorkOptions, handler: JobHandler<JobPayloads[Q]>) {
      await boss.work<JobPayloads[Q]>(queue, { localConcurrency: options.concurrency, batchSize: 1, pollingIntervalSeconds }, async ([job]) => {
        await handler({ id: job!.id, data: job!.data, attempt: job!.retryCount + 1, signal: job!.signal });
      });
    },
    async unfinishedFor(queue, assetIds, tx) {
      if (assetIds.length === 0) return new Set();
      const { rows } = await (tx ? transactionDb(tx) : boss.getDb())
        .executeSql(
          `select distinct data->>'assetId' as id from ${BOSS_SCHEMA}.job where name = $1 and state in ('created', 'retry', 'active') and data->>'assetId' = any($2::text[])`,
          [queue, [...assetIds]],
        );
      return new Set((rows as { id: string }[]).map((r) => r.id));
    },
    async counts(queue) {
      const { rows } = await boss.getDb().executeSql(`select state, count(*)::int as n from ${BOSS_SCHEMA}.job where name = $1 group by state`, [queue]);
      const counts = { created: 0, retry: 0, active: 0, completed: 0, failed: 0 };
      for (const r of rows as { state: keyof typeof counts; n: number }[]) if (r.state in counts) counts[r.state] = r.n;
      return counts;
    },
    async stop({ timeoutMs = 30_000 } = {}) {
      await boss.stop({ graceful: true, timeout: timeoutMs, close: true });
    },
  };
}

/** The caller's open transaction as a pg-boss connection, so the job commits (or not) with it. */
function transactionDb(tx: EntityManager): Db {
  const trx = tx.getTransactionContext();
  if (!trx) throw new Error('enqueue needs an open transaction (call it inside em.transactional)');
  return fromKysely(trx as Parameters<typeof fromKysely>[0]);
}

interface PgQueryable {
  query(text: string, values?: unknown[]): Promise<unknown>;
}

/** The ORM's pool as a pg-boss connection; multi-statement results are unwrapped by pg-boss. */
function ormDb(pool: PgQueryable): Db {
  return { executeSql: (text, values) => pool.query(text, values) as ReturnType<Db['executeSql']> };
}

const poolBounds = (t: DatabaseTimeouts | undefined) => (t ? { ...boundedWaits(t), Client: ClosingOnReadTimeoutClient } : {});
