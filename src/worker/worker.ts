import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { processAsset, type ProcessingDeps, recordProcessingGaveUp } from '../domain/processing/processing.service.js';
import type { JobQueue } from '../jobs/jobs.port.js';

export interface WorkerOptions {
  /** Assets processed at once in this process. */
  concurrency: number;
}

/**
 * Takes processing jobs from the queue: the same code runs in the worker process (served mode)
 * and inside `npm start` (embedded mode). Stopping is the queue's: it lets jobs in hand finish,
 * then aborts what is left so another worker retries it.
 */
export async function startWorker(deps: ProcessingDeps, queue: JobQueue, options: WorkerOptions): Promise<void> {
  // libvips threads per image × jobs at once ≈ cores; more only thrashes. No cache: each image is seen once.
  sharp.concurrency(Math.max(1, Math.floor(availableParallelism() / options.concurrency)));
  sharp.cache(false);
  await queue.work('asset.process', { concurrency: options.concurrency }, (job) => processAsset(deps, job));
  await queue.work('asset.process.failed', { concurrency: 1 }, (job) => recordProcessingGaveUp(deps, job.data.assetId));
}
