import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Background jobs. The queue lives in PostgreSQL, so a job is enqueued in the same transaction as
 * the row it is about (an asset without its processing job, or a job for an asset that was rolled
 * back, cannot happen). Both backends (a pg-boss pool of its own in served mode, the ORM's single
 * connection in embedded mode) pass one contract suite (test/jobs/).
 */
export interface JobPayloads {
  /** Run the media pipeline for one asset. */
  'asset.process': { assetId: string };
  /** An asset.process job ran out of attempts (the dead-letter queue): record why, for people. */
  'asset.process.failed': { assetId: string };
  /** AI work on a processed memory: transcript, tags and caption, OCR, keywords. */
  'asset.analyse': { assetId: string };
  'asset.analyse.failed': { assetId: string };
  /** Write a story (its row is GENERATING until this finishes). */
  'story.generate': { storyId: string };
  'story.generate.failed': { storyId: string };
  /** Write a chest's archive into storage (domain/export; its row is QUEUED or RUNNING until this finishes). */
  'chest.export': { exportId: string };
  'chest.export.failed': { exportId: string };
  /** Read an uploaded chest archive into a new chest (domain/import). */
  'chest.import': { importId: string };
  'chest.import.failed': { importId: string };
  /** Blur a photo's hidden people out of the thumbnails non-members get (domain/people/redaction.ts). */
  'faces.redact': { assetId: string };
}

export type QueueName = keyof JobPayloads;

export interface JobContext<T> {
  id: string;
  data: T;
  /** 1 on the first try. */
  attempt: number;
  /** Aborted when the job's lease is lost or the worker stops: stop early, the job will run again. */
  signal: AbortSignal;
}

export type JobHandler<T> = (job: JobContext<T>) => Promise<void>;

export interface WorkOptions {
  /** Jobs of this queue run at once in this process. */
  concurrency: number;
}

export interface EnqueueOptions {
  background?: boolean;
}

export interface JobQueue {
  /** 'memory' is for tests and single-process dev runs only (memory.queue.ts). */
  readonly backend: 'pg-boss' | 'pg-boss-embedded' | 'memory';
  /**
   * Adds a job within the caller's open transaction (`em.transactional`'s em). A `background`
   * job waits behind every ordinary job of its queue, however long it has waited: work nobody is
   * waiting for (re-analysis after an upgrade) never holds up what a family just uploaded.
   */
  enqueue<Q extends QueueName>(tx: EntityManager, queue: Q, data: JobPayloads[Q], options?: EnqueueOptions): Promise<string>;
  /** Starts taking jobs from a queue. A thrown error fails the attempt; it is retried with backoff. */
  work<Q extends QueueName>(queue: Q, options: WorkOptions, handler: JobHandler<JobPayloads[Q]>): Promise<void>;
  /**
   * Which of these assets still have a job of this queue waiting, retrying or running. Inside a
   * transaction pass it: the question is asked in it (in embedded mode it holds the only connection).
   */
  unfinishedFor(queue: 'asset.process' | 'asset.analyse', assetIds: readonly string[], tx?: EntityManager): Promise<Set<string>>;
  /** Jobs of a queue by state, for health pages and tests. */
  counts(queue: QueueName): Promise<Record<'created' | 'retry' | 'active' | 'completed' | 'failed', number>>;
  /**
   * Stops taking jobs. graceful: waits up to timeoutMs for jobs in hand, then aborts them (their
   * attempts fail and are retried by another worker).
   */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

/** How hard to try before giving up on an asset, and how soon a dead worker's job is taken again. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retryLimit: number;
  /** Seconds before the first retry; doubles each time (with jitter), up to retryDelayMaxSeconds. */
  retryDelaySeconds: number;
  retryDelayMaxSeconds: number;
  /** A running job sends a heartbeat every half of this; a job not heard from for this long is retried. */
  heartbeatSeconds: number;
  /** Hard limit on one attempt. */
  expireInSeconds: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retryLimit: 3,
  retryDelaySeconds: 5,
  retryDelayMaxSeconds: 25,
  heartbeatSeconds: 20,
  expireInSeconds: 3600,
};
