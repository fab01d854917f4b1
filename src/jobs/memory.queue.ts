import { randomUUID } from 'node:crypto';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { EnqueueOptions, JobHandler, JobPayloads, JobQueue, QueueName, RetryPolicy, WorkOptions } from './jobs.port.js';

type State = 'created' | 'retry' | 'active' | 'completed' | 'failed';

interface Job {
  id: string;
  queue: QueueName;
  data: unknown;
  background: boolean;
  /** Order of commit: oldest first within ordinary and within background jobs. */
  seq: number;
  state: State;
  /** Attempts started. */
  attempts: number;
  runAfter: number;
}

/** Work queues whose exhausted jobs go to "<name>.failed", as with pg-boss. */
const DEAD_LETTERS = new Set<QueueName>(['asset.process', 'asset.analyse', 'story.generate', 'chest.export', 'chest.import']);

/** The port, and what the jobs contract reads behind it (pg-boss's jobs are rows; these are not). */
export interface MemoryQueue extends JobQueue {
  stateOf(id: string): State | undefined;
  /** Jobs with this id held by the open transaction (not yet committed). */
  ownJobs(tx: EntityManager, id: string): number;
  /** Committed jobs (any queue, any state) about this asset. */
  jobsOf(assetId: string): number;
}

export interface MemoryQueueOptions {
  /** The app's ORM: jobs join the caller's transaction and appear only when it commits. */
  orm: MikroORM;
  retry: Pick<RetryPolicy, 'retryLimit' | 'retryDelaySeconds' | 'retryDelayMaxSeconds'>;
}

/**
 * Jobs in this process's memory, for the fast test tier and single-process dev runs: a job
 * enqueued in a transaction is held with it and becomes visible at its commit (dropped at its
 * rollback), so the port's promise "no job without its row" holds; retries back off like pg-boss's
 * and an exhausted job goes to its dead-letter queue. Nothing survives the process and no other
 * process sees the jobs, so never a served deployment's queue. It passes the jobs contract
 * (test/jobs/memory.queue.test.ts).
 */
export function createMemoryQueue(opts: MemoryQueueOptions): MemoryQueue {
  const jobs = new Map<string, Job>();
  /** Jobs of open transactions, by the transaction's context object. */
  const pending = new Map<unknown, Job[]>();
  const workers = new Map<QueueName, { concurrency: number; handler: JobHandler<unknown>; running: number }>();
  const inHand = new Set<{ done: Promise<void>; abort: AbortController }>();
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;
  let stopped = false;

  opts.orm.em.getEventManager().registerSubscriber({
    afterTransactionCommit: ({ transaction }) => {
      for (const job of pending.get(transaction) ?? []) commit(job);
      pending.delete(transaction);
    },
    afterTransactionRollback: ({ transaction }) => void pending.delete(transaction),
  });

  function commit(job: Job): void {
    job.seq = seq++;
    jobs.set(job.id, job);
    schedule(job.queue, 0);
  }

  function schedule(queue: QueueName, delayMs: number, onFire?: () => void): void {
    if (stopped) return;
    const timer = setTimeout(() => {
      timers.delete(timer);
      onFire?.();
      pump(queue);
    }, delayMs);
    timers.add(timer);
  }

  /** Per queue, when a pump is due for a job that waits (a retry's delay): one timer, not one per pump. */
  const wakes = new Map<QueueName, number>();

  /**
   * A timer can fire a millisecond before Date.now() reaches the time it was set for: a pump then
   * finds the retry not yet due, and without another timer it would wait forever.
   */
  function wakeForWaiting(queue: QueueName): void {
    const now = Date.now();
    let at = Infinity;
    for (const job of jobs.values()) {
      if (job.queue === queue && (job.state === 'created' || job.state === 'retry') && job.runAfter > now) at = Math.min(at, job.runAfter);
    }
    if (at === Infinity || (wakes.get(queue) ?? Infinity) <= at) return;
    wakes.set(queue, at);
    schedule(queue, Math.max(1, at - now), () => wakes.delete(queue));
  }

  function next(queue: QueueName): Job | undefined {
    const now = Date.now();
    let best: Job | undefined;
    for (const job of jobs.values()) {
      if (job.queue !== queue || (job.state !== 'created' && job.state !== 'retry') || job.runAfter > now) continue;
      if (!best || Number(job.background) < Number(best.background) || (job.background === best.background && job.seq < best.seq)) best = job;
    }
    return best;
  }

  function pump(queue: QueueName): void {
    const worker = workers.get(queue);
    if (!worker || stopped) return;
    for (let job = next(queue); job && worker.running < worker.concurrency; job = next(queue)) {
      const taken = job;
      taken.state = 'active';
      taken.attempts++;
      worker.running++;
      const abort = new AbortController();
      const entry = { abort, done: Promise.resolve() };
      entry.done = worker
        .handler({ id: taken.id, data: taken.data, attempt: taken.attempts, signal: abort.signal })
        .then(
          () => void (taken.state = 'completed'),
          () => fail(taken),
        )
        .finally(() => {
          worker.running--;
          inHand.delete(entry);
          schedule(queue, 0);
        });
      inHand.add(entry);
    }
    wakeForWaiting(queue);
  }

  function fail(job: Job): void {
    if (job.attempts <= opts.retry.retryLimit) {
      job.state = 'retry';
      const delay = Math.min(opts.retry.retryDelaySeconds * 2 ** (job.attempts - 1), opts.retry.retryDelayMaxSeconds) * 1000;
      // The pump after the attempt sets the wake-up for runAfter (wakeForWaiting).
      job.runAfter = Date.now() + delay;
      return;
    }
    job.state = 'failed';
    if (DEAD_LETTERS.has(job.queue)) {
      commit({ id: randomUUID(), queue: `${job.queue}.failed` as QueueName, data: job.data, background: false, seq: 0, state: 'created', attempts: 0, runAfter: 0 });
    }
  }

  return {
    stateOf: (id) => jobs.get(id)?.state,
    ownJobs: (tx, id) => (pending.get(tx.getTransactionContext()) ?? []).filter((j) => j.id === id).length,
    jobsOf: (assetId) => [...jobs.values()].filter((j) => (j.data as { assetId?: string }).assetId === assetId).length,
    backend: 'memory',
    async enqueue<Q extends QueueName>(tx: EntityManager, queue: Q, data: JobPayloads[Q], options?: EnqueueOptions) {
      const transaction = tx.getTransactionContext();
      if (!transaction) throw new Error('enqueue needs an open transaction (call it inside em.transactional)');
      const job: Job = { id: randomUUID(), queue, data: structuredClone(data), background: options?.background === true, seq: -1, state: 'created', attempts: 0, runAfter: 0 };
      pending.set(transaction, [...(pending.get(transaction) ?? []), job]);
      return job.id;
    },
    async work<Q extends QueueName>(queue: Q, options: WorkOptions, handler: JobHandler<JobPayloads[Q]>) {
      workers.set(queue, { concurrency: options.concurrency, handler: handler as JobHandler<unknown>, running: 0 });
      schedule(queue, 0);
    },
    async unfinishedFor(queue, assetIds, tx) {
      const wanted = new Set(assetIds);
      const own = tx?.getTransactionContext() ? (pending.get(tx.getTransactionContext()) ?? []) : [];
      const found = new Set<string>();
      for (const job of [...jobs.values(), ...own]) {
        const assetId = (job.data as { assetId?: string }).assetId;
        if (job.queue === queue && assetId && wanted.has(assetId) && ['created', 'retry', 'active'].includes(job.state)) found.add(assetId);
      }
      return found;
    },
    async counts(queue) {
      const counts = { created: 0, retry: 0, active: 0, completed: 0, failed: 0 };
      for (const job of jobs.values()) if (job.queue === queue) counts[job.state]++;
      return counts;
    },
    async stop({ timeoutMs = 30_000 } = {}) {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      const all = Promise.all([...inHand].map((e) => e.done));
      let timeout: NodeJS.Timeout | undefined;
      const late = await Promise.race([all.then(() => false), new Promise<boolean>((r) => (timeout = setTimeout(() => r(true), timeoutMs)))]);
      clearTimeout(timeout);
      if (late) for (const e of inHand) e.abort.abort(new Error('the job queue stopped'));
    },
  };
}
