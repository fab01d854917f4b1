import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { JobQueue } from './jobs.port.js';
import { createMemoryQueue } from './memory.queue.js';
import { createPgBossQueue } from './pg-boss.queue.js';
import { tracedQueue } from '../tracing/jobs.js';
import { tracingOn } from '../tracing/tracing.js';

/**
 * The queue for this process. Embedded mode goes through the ORM's one connection (PGlite is
 * single-session); served mode gives pg-boss its own small pool. `supervise` only where jobs run.
 */
export async function createJobQueue(config: Pick<Config, 'jobs' | 'database'>, db: Pick<Database, 'mode' | 'url' | 'orm'>, log: Logger, { supervise }: { supervise: boolean }): Promise<JobQueue> {
  // JOB_QUEUE=memory (tests, dev): jobs in this process, joined to the ORM's transactions.
  if (config.jobs.queue === 'memory') return createMemoryQueue({ orm: db.orm, retry: config.jobs.retry });
  const timeouts = config.database.mode === 'postgres' ? config.database.timeouts : undefined;
  const queue = createPgBossQueue({
    ...(db.mode === 'embedded' ? { orm: db.orm } : { url: db.url, timeouts }),
    supervise,
    retry: config.jobs.retry,
    superviseIntervalSeconds: config.jobs.superviseIntervalSeconds,
    log,
  });
  // With tracing on, jobs carry the enqueuing request's traceparent (tracing/jobs.ts).
  return tracingOn() ? queue.then(tracedQueue) : queue;
}
