import { availableParallelism } from 'node:os';
import sharp from 'sharp';
import { type Ai, createAi } from '../ai/ai.registry.js';
import { FaceApiEngine } from '../ai/local/faces.js';
import type { Config } from '../config.js';
import { analyseAsset, recordAnalysisGaveUp } from '../domain/analysis/analysis.service.js';
import { redactAsset } from '../domain/people/redaction.js';
import { processAsset, type ProcessingDeps, recordProcessingGaveUp } from '../domain/processing/processing.service.js';
import { recordStoryGaveUp, writeStory } from '../domain/story/story.service.js';
import { recordExportGaveUp, writeExport } from '../domain/export/export.job.js';
import { readImport, recordImportGaveUp } from '../domain/import/import.job.js';
import { queueRequestedAnalyses } from '../domain/analysis/requested-analyses.js';
import { indexStoriesNotIndexed } from '../domain/search/story-entries.js';
import type { JobQueue } from '../jobs/jobs.port.js';
import { measuredJobs } from '../metrics/jobs.js';
import { tracedJobs } from '../tracing/jobs.js';
import { tracingOn } from '../tracing/tracing.js';
import { setMediaToolLimits } from '../media/ffmpeg.js';
import { setSandboxThreads } from '../media/sandbox/sandbox.js';

export interface RunningWorker {
  ai: Ai;
  /** After the queue has stopped: releases the AI engines (OCR workers, ...). */
  close(): Promise<void>;
}

/**
 * Takes jobs from the queue: the same code runs in the worker process (served mode) and inside
 * `npm start` (embedded mode). Media first (asset.process), then the AI step it enqueues
 * (asset.analyse), and stories (story.generate); each with its dead-letter handler. Stopping is
 * the queue's: jobs in hand finish, what is left is retried by another worker.
 */
export async function startWorker(deps: ProcessingDeps, queue: JobQueue, config: Pick<Config, 'jobs' | 'ai'>, ai?: Ai): Promise<RunningWorker> {
  const { concurrency } = config.jobs;
  // The local engines (picture reads, OCR) run in sandboxes with the same limits as the media pipeline's.
  ai ??= createAi({ ...config.ai, sandbox: config.jobs.parseLimits.sandbox });
  // Faces are found on this machine only, whatever the AI chain (descriptors of people's faces
  // are not sent anywhere); vision off (AI_VISION=off) turns them off with the rest.
  const faces = config.ai?.vision === false ? undefined : new FaceApiEngine({ limits: config.jobs.parseLimits?.sandbox });
  // libvips threads per image × jobs at once ≈ cores; more only thrashes. No cache: each image is seen
  // once. Here for video posters; the sandboxes that decode uploads get the same through VIPS_CONCURRENCY.
  const threads = Math.max(1, Math.floor(availableParallelism() / concurrency));
  sharp.concurrency(threads);
  sharp.cache(false);
  setSandboxThreads(threads);
  setMediaToolLimits(config.jobs.mediaTools);
  const withQueue = { ...deps, queue, limits: config.jobs.parseLimits };
  // Handlers are timed and their failures counted (metrics/jobs.ts); what they enqueue goes to `queue` itself.
  // With tracing on, each runs in a span continued from the request that enqueued it (tracing/jobs.ts).
  const jobs = measuredJobs(tracingOn() ? tracedJobs(queue) : queue);
  await jobs.work('asset.process', { concurrency }, (job) => processAsset(withQueue, job));
  await jobs.work('asset.process.failed', { concurrency: 1 }, (job) => recordProcessingGaveUp(deps, job.data.assetId));
  await jobs.work('asset.analyse', { concurrency }, (job) => analyseAsset({ ...deps, ai, limits: config.jobs.parseLimits, faces }, job));
  await jobs.work('asset.analyse.failed', { concurrency: 1 }, (job) => recordAnalysisGaveUp(deps, job.data.assetId));
  await jobs.work('faces.redact', { concurrency }, async (job) => void (await redactAsset({ ...deps, limits: config.jobs.parseLimits }, job.data.assetId, job.signal)));
  // Stories are long single requests: one at a time per worker keeps the AI service's rate limits.
  await jobs.work('story.generate', { concurrency: 1 }, (job) => writeStory({ ...deps, ai, queue }, job));
  await jobs.work('story.generate.failed', { concurrency: 1 }, (job) => recordStoryGaveUp(deps, job.data.storyId));
  // Archives are long streams of a whole chest's files: one at a time per worker leaves room for uploads.
  await jobs.work('chest.export', { concurrency: 1 }, (job) => writeExport(deps, job));
  await jobs.work('chest.export.failed', { concurrency: 1 }, (job) => recordExportGaveUp(deps, job.data.exportId));
  await jobs.work('chest.import', { concurrency: 1 }, (job) => readImport(deps, job));
  await jobs.work('chest.import.failed', { concurrency: 1 }, (job) => recordImportGaveUp(deps, job.data.importId));
  // Memories whose models changed under them get the AI step again (AnalysisRequest); in the background, best effort (the next start tries again).
  queueRequestedAnalyses({ em: deps.orm.em, queue }).then(
    (n) => n > 0 && deps.log.info({ memories: n }, 'memories queued for the AI step again: its models changed since they were analysed'),
    (err: unknown) => deps.log.warn({ err }, 'memories not queued for the AI step again; the next start tries'),
  );
  indexStoriesNotIndexed(deps.orm.em.fork()).then(
    (n) => n > 0 && deps.log.info({ stories: n }, 'stories indexed for search'),
    (err: unknown) => deps.log.warn({ err }, 'stories not indexed for search; the next start tries'),
  );
  return { ai, close: async () => void (await Promise.all([ai.close(), faces?.close()])) };
}
