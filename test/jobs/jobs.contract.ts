import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { afterEach, describe, expect, it } from 'vitest';
import type { JobContext, JobPayloads, JobQueue, RetryPolicy } from '../../src/jobs/jobs.port.js';

/**
 * The policy every backend is opened with for the contract: few, short retries so a job reaches
 * the dead letter in seconds. heartbeatSeconds is pg-boss's minimum; no contract job runs that long.
 */
export const CONTRACT_RETRY: RetryPolicy = {
  retryLimit: 2,
  retryDelaySeconds: 1,
  retryDelayMaxSeconds: 1,
  heartbeatSeconds: 10,
  expireInSeconds: 60,
};

export interface OpenedQueue {
  /** A started queue on a database whose job table holds no jobs. */
  queue: JobQueue;
  /** The app's ORM on the same database: transactions to enqueue in, and SQL to look behind the port. */
  orm: MikroORM;
  close(): Promise<void>;
  /** How to look behind the port; default: pg-boss's job table through the ORM. */
  inspect?: QueueInspector;
}

/** What the contract checks behind the port: a backend's own record of its jobs. */
export interface QueueInspector {
  /** Jobs with this id that the transaction sees (its own, not yet committed). */
  ownJobs(tx: EntityManager, id: string): Promise<number>;
  /** Committed jobs about this asset, any queue and state. */
  jobsOf(assetId: string): Promise<number>;
  state(id: string): Promise<string | undefined>;
}

const pgBossInspector = (orm: MikroORM): QueueInspector => ({
  ownJobs: async (tx, id) => (await tx.execute<{ n: number }[]>('select count(*)::int as n from pgboss.job where id = ?', [id]))[0]?.n ?? 0,
  jobsOf: async (assetId) => (await orm.em.fork().execute<{ n: number }[]>("select count(*)::int as n from pgboss.job where data->>'assetId' = ?", [assetId]))[0]?.n ?? 0,
  state: async (id) => (await orm.em.fork().execute<{ state: string }[]>('select state from pgboss.job where id = ?', [id]))[0]?.state,
});

/** Polls until check holds; fails with `what` rather than running into the test timeout. */
export async function waitUntil(check: () => boolean | Promise<boolean>, what: string | (() => string), timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${typeof what === 'function' ? what() : what}`);
    await sleep(50);
  }
}

/** A promise with its resolve, for handlers that wait until the test lets them go. */
function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

type Counts = Awaited<ReturnType<JobQueue['counts']>>;
const none: Counts = { created: 0, retry: 0, active: 0, completed: 0, failed: 0 };

/** What every job queue must do. Each test opens its own queue (stop() is under test) on an empty job table. */
export function jobQueueContract(name: string, open: () => Promise<OpenedQueue>): void {
  describe(`job queue contract: ${name}`, () => {
    let opened: OpenedQueue | undefined;
    afterEach(async () => {
      await opened?.close();
      opened = undefined;
    });
    const start = async () => (opened = await open());

    const enqueue = (o: OpenedQueue, assetId: string) =>
      o.orm.em.fork().transactional((tx) => o.queue.enqueue(tx, 'asset.process', { assetId }));
    const inspect = (o: OpenedQueue) => o.inspect ?? pgBossInspector(o.orm);
    const jobState = (o: OpenedQueue, id: string) => inspect(o).state(id);

    it('adds a job with the transaction that enqueues it; once committed it is created, then handled with its data on attempt 1', async () => {
      const o = await start();
      const { queue, orm } = o;
      const assetId = randomUUID();
      const id = await orm.em.fork().transactional(async (tx) => {
        const id = await queue.enqueue(tx, 'asset.process', { assetId });
        // The transaction sees its own job...
        expect(await inspect(o).ownJobs(tx, id)).toBe(1);
        // ...and nobody else does yet. Only a backend with a connection of its own can look: the
        // embedded one would wait for the single connection this transaction holds.
        if (queue.backend !== 'pg-boss-embedded') expect(await queue.counts('asset.process')).toEqual(none);
        return id;
      });
      expect(await queue.counts('asset.process')).toEqual({ ...none, created: 1 });

      const seen: JobContext<JobPayloads['asset.process']>[] = [];
      const abortedWhileRunning: boolean[] = [];
      await queue.work('asset.process', { concurrency: 1 }, async (job) => {
        abortedWhileRunning.push(job.signal.aborted);
        seen.push(job);
      });
      await waitUntil(async () => (await queue.counts('asset.process')).completed === 1, 'the job completes');
      expect(seen).toHaveLength(1);
      expect(seen[0]).toMatchObject({ id, data: { assetId }, attempt: 1 });
      expect(seen[0]!.signal).toBeInstanceOf(AbortSignal);
      expect(abortedWhileRunning).toEqual([false]);
      expect(await queue.counts('asset.process')).toEqual({ ...none, completed: 1 });
    });

    it('leaves no job behind a transaction that rolls back', async () => {
      const o = await start();
      const { queue, orm } = o;
      const doomed = randomUUID();
      await expect(
        orm.em.fork().transactional(async (tx) => {
          await queue.enqueue(tx, 'asset.process', { assetId: doomed });
          throw new Error('something after the enqueue failed');
        }),
      ).rejects.toThrow('something after the enqueue failed');
      expect(await queue.counts('asset.process')).toEqual(none);

      // A job committed afterwards runs; the worker reaching it means it would have met the other one first.
      const kept = randomUUID();
      const handled: string[] = [];
      await enqueue(o, kept);
      await queue.work('asset.process', { concurrency: 1 }, async (job) => void handled.push(job.data.assetId));
      await waitUntil(async () => (await queue.counts('asset.process')).completed === 1, 'the committed job completes');
      expect(handled).toEqual([kept]);
      expect(await queue.counts('asset.process')).toEqual({ ...none, completed: 1 });
      expect(await inspect(o).jobsOf(doomed)).toBe(0);
      expect(await inspect(o).jobsOf(kept)).toBe(1);
    });

    it('takes background jobs after every ordinary one, even ones enqueued later', async () => {
      const o = await start();
      const { queue, orm } = o;
      const early = [randomUUID(), randomUUID()];
      const late = [randomUUID(), randomUUID()];
      await orm.em.fork().transactional(async (tx) => {
        for (const assetId of early) await queue.enqueue(tx, 'asset.process', { assetId }, { background: true });
      });
      await orm.em.fork().transactional(async (tx) => {
        for (const assetId of late) await queue.enqueue(tx, 'asset.process', { assetId });
      });
      const handled: string[] = [];
      await queue.work('asset.process', { concurrency: 1 }, async (job) => void handled.push(job.data.assetId));
      await waitUntil(async () => (await queue.counts('asset.process')).completed === 4, 'all four complete');
      expect(handled.slice(0, 2).sort()).toEqual([...late].sort());
      expect(handled.slice(2).sort()).toEqual([...early].sort());
    });

    it('refuses to enqueue outside a transaction, saying so', async () => {
      const { queue, orm } = await start();
      await expect(queue.enqueue(orm.em.fork(), 'asset.process', { assetId: randomUUID() })).rejects.toThrow(/transaction/i);
      expect(await queue.counts('asset.process')).toEqual(none);
    });

    it('retries an attempt that throws; the retry sees attempt 2', async () => {
      const o = await start();
      const { queue } = o;
      const assetId = randomUUID();
      const id = await enqueue(o, assetId);
      const attempts: { id: string; assetId: string; attempt: number }[] = [];
      await queue.work('asset.process', { concurrency: 1 }, async (job) => {
        attempts.push({ id: job.id, assetId: job.data.assetId, attempt: job.attempt });
        if (job.attempt === 1) throw new Error('transient failure');
      });
      await waitUntil(async () => (await queue.counts('asset.process')).completed === 1, 'the retried job completes');
      expect(attempts).toEqual([
        { id, assetId, attempt: 1 },
        { id, assetId, attempt: 2 },
      ]);
      expect(await queue.counts('asset.process')).toEqual({ ...none, completed: 1 });
    });

    it(`gives up after ${CONTRACT_RETRY.retryLimit + 1} attempts and hands the job to the dead-letter queue`, async () => {
      const o = await start();
      const { queue } = o;
      const assetId = randomUUID();
      await enqueue(o, assetId);
      const attempts: number[] = [];
      await queue.work('asset.process', { concurrency: 1 }, async (job) => {
        attempts.push(job.attempt);
        throw new Error('permanent failure');
      });
      const dead: string[] = [];
      await queue.work('asset.process.failed', { concurrency: 1 }, async (job) => void dead.push(job.data.assetId));
      await waitUntil(async () => (await queue.counts('asset.process.failed')).completed === 1, 'the dead letter is handled');
      expect(attempts).toEqual([1, 2, 3]);
      expect(dead).toEqual([assetId]);
      expect(await queue.counts('asset.process')).toEqual({ ...none, failed: 1 });
      expect(await queue.counts('asset.process.failed')).toEqual({ ...none, completed: 1 });
    });

    it('runs at most `concurrency` jobs at once', async () => {
      const o = await start();
      const { queue } = o;
      const ids: string[] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      for (const assetId of ids) await enqueue(o, assetId);
      const gates = new Map(ids.map((assetId) => [assetId, gate()]));
      const started: string[] = [];
      let inFlight = 0;
      let maxInFlight = 0;
      await queue.work('asset.process', { concurrency: 2 }, async (job) => {
        started.push(job.data.assetId);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        await gates.get(job.data.assetId)!.promise;
        inFlight--;
      });
      await waitUntil(() => started.length === 2, 'two jobs start');
      // Give a worker that ignored the limit a few polls' worth of chances to take a third.
      await sleep(1500);
      expect(started).toHaveLength(2);
      expect(await queue.counts('asset.process')).toEqual({ ...none, active: 2, created: 2 });

      for (const assetId of started.slice()) gates.get(assetId)!.open();
      await waitUntil(() => started.length === 4, 'the other two start');
      for (const assetId of started.slice(2)) gates.get(assetId)!.open();
      await waitUntil(async () => (await queue.counts('asset.process')).completed === 4, 'all four complete');
      expect(new Set(started)).toEqual(new Set(ids));
      expect(maxInFlight).toBe(2);
    });

    it('tells which assets still have a job waiting, running or retrying, per queue', async () => {
      const o = await start();
      const { queue, orm } = o;
      const [waiting, running, done, other] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
      expect(await queue.unfinishedFor('asset.process', [])).toEqual(new Set());
      // Separate transactions: jobs are taken oldest first, so `done` comes before `running`.
      await enqueue(o, done);
      await orm.em.fork().transactional(async (tx) => {
        await queue.enqueue(tx, 'asset.process', { assetId: running });
        await queue.enqueue(tx, 'asset.analyse', { assetId: other });
      });
      const hold = gate();
      const started = gate();
      // One at a time: `done` completes, `running` is held, so `waiting` (added next) stays queued.
      await queue.work('asset.process', { concurrency: 1 }, async (job) => {
        if (job.data.assetId !== running) return;
        started.open();
        await hold.promise;
      });
      await started.promise;
      await waitUntil(async () => (await queue.counts('asset.process')).completed === 1, 'the other job completes');
      await enqueue(o, waiting);
      const ids = [waiting, running, done, other];
      expect(await queue.unfinishedFor('asset.process', ids)).toEqual(new Set([waiting, running]));
      expect(await queue.unfinishedFor('asset.analyse', ids)).toEqual(new Set([other]));
      hold.open();
    });

    it('answers which assets have a job inside a transaction too, seeing the jobs it added', async () => {
      const o = await start();
      const { queue, orm } = o;
      const [queued, added] = [randomUUID(), randomUUID()];
      await enqueue(o, queued);
      await orm.em.fork().transactional(async (tx) => {
        await queue.enqueue(tx, 'asset.process', { assetId: added });
        expect(await queue.unfinishedFor('asset.process', [queued, added], tx)).toEqual(new Set([queued, added]));
      });
    });

    it('stops gracefully: waits for the job in hand, whose completion is recorded', async () => {
      const o = await start();
      const { queue } = o;
      const id = await enqueue(o, randomUUID());
      const running = gate();
      const release = gate();
      let finished = false;
      let abortedBeforeFinishing: boolean | undefined;
      await queue.work('asset.process', { concurrency: 1 }, async (job) => {
        running.open();
        await release.promise;
        abortedBeforeFinishing = job.signal.aborted;
        finished = true;
      });
      await running.promise;

      let stopped = false;
      const stopping = queue.stop({ timeoutMs: 20_000 }).then(() => (stopped = true));
      // stop() is under way and must not return while the handler still holds its job.
      await sleep(300);
      expect(stopped).toBe(false);
      release.open();
      await stopping;
      expect(finished).toBe(true);
      // Within the grace period the handler was not told to give up.
      expect(abortedBeforeFinishing).toBe(false);
      expect(await jobState(o, id)).toBe('completed');
    });
  });
}
