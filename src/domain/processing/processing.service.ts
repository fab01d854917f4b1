import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { ChestEventKind, FileType, ProcessingStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobContext, JobQueue } from '../../jobs/jobs.port.js';
import type { Logger } from '../../logger.js';
import { processAudio } from '../../media/audio.pipeline.js';
import { processDocument } from '../../media/document.pipeline.js';
import { processImage } from '../../media/image.pipeline.js';
import { MediaError, type PipelineContext, type PipelineInput, type PipelineResult } from '../../media/pipeline.types.js';
import { processVideo } from '../../media/video.pipeline.js';
import { ObjectNotFoundError, type StorageBackend } from '../../storage/storage.port.js';
import { appendChestEvent, type ChestEventMessage, publishChestEvents } from '../events/chest-events.service.js';
import { derivativeSink, removeStaleDerivatives } from './derivatives.js';

export interface ProcessingDeps {
  orm: MikroORM;
  storage: StorageBackend;
  events: EventBus;
  log: Logger;
  /** Where the AI step is enqueued once the media pipeline is done (none: no AI step). */
  queue?: JobQueue;
}

const PIPELINES: Record<FileType, (input: PipelineInput, ctx: PipelineContext) => Promise<PipelineResult>> = {
  [FileType.IMAGE]: processImage,
  [FileType.VIDEO]: processVideo,
  [FileType.AUDIO]: processAudio,
  [FileType.DOCUMENT]: processDocument,
};

/** What subscribers of assetProcessing see in each event. */
export interface ProcessingState {
  stage: string;
  percent: number;
  status: ProcessingStatus;
  error: string | null;
}

/**
 * One attempt at processing an asset (the asset.process job). Idempotent: derivatives go to fixed
 * keys and results overwrite, so a retried or duplicated job leaves the same state as one run.
 * A file that cannot be processed (MediaError) ends FAILED at once with a reason for people;
 * anything else is thrown so the queue retries it with backoff.
 */
export async function processAsset(deps: ProcessingDeps, job: JobContext<{ assetId: string }>): Promise<void> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: job.data.assetId }, { populate: ['chest'] });
  // Deleted since, or already done by an earlier delivery of this job: nothing to do.
  if (!asset || asset.deletedAt || asset.status === ProcessingStatus.COMPLETE) return;
  const log = deps.log.child({ assetId: asset.id, jobId: job.id, attempt: job.attempt });

  const report = progressWriter(em, deps.events, asset);
  log.info({ fileType: asset.fileType }, 'processing');
  await report.start();
  const dir = await mkdtemp(join(tmpdir(), 'dmc-process-'));
  try {
    const path = join(dir, 'original');
    await pipeline(await deps.storage.get(asset.storageKey), createWriteStream(path), { signal: job.signal });
    const written = new Set<string>();
    const result = await PIPELINES[asset.fileType](
      { path, mimeType: asset.mimeType, filename: asset.filename },
      { derivatives: derivativeSink(deps.storage, asset, written), report: report.stage, signal: job.signal },
    );
    job.signal.throwIfAborted();
    await complete(em, deps.events, deps.queue, asset, result);
    await removeStaleDerivatives(deps.storage, asset, written).catch((err: unknown) => log.warn({ err }, 'stale derivatives not removed'));
    log.info({ fileType: asset.fileType }, 'processed');
  } catch (err) {
    const permanent = err instanceof MediaError ? err.message : err instanceof ObjectNotFoundError ? 'The original file is missing from storage' : null;
    if (permanent) {
      await finish(em, deps.events, asset, report.current, ProcessingStatus.FAILED, permanent);
      log.warn({ reason: permanent }, 'processing failed');
      return;
    }
    // Transient (storage down, worker stopping, a bug): the queue tries again later.
    const reason = job.signal.aborted ? 'Processing was interrupted' : 'Processing hit a temporary problem';
    await finish(em, deps.events, asset, report.current, ProcessingStatus.PENDING, `${reason}; it will be tried again`).catch(() => undefined);
    log.error({ err }, 'processing attempt failed; will retry');
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The dead-letter step: an asset.process job used up its attempts (errors, or workers that died
 * holding it). The asset ends FAILED with a reason, never stuck in PROCESSING.
 */
export async function recordProcessingGaveUp(deps: ProcessingDeps, assetId: string): Promise<void> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: assetId }, { populate: ['chest'] });
  if (!asset || asset.deletedAt || asset.status === ProcessingStatus.COMPLETE || asset.status === ProcessingStatus.FAILED) return;
  const last = asset.processingError?.replace(/; it will be tried again$/, '') ?? 'the worker stopped while processing it';
  await finish(em, deps.events, asset, { stage: asset.processingStage ?? 'queued', percent: asset.progress }, ProcessingStatus.FAILED, `Processing did not finish after ${asset.processingAttempts} attempts (${last.charAt(0).toLowerCase()}${last.slice(1)})`);
}

/** Stage reports: the row and an event, at most one per stage and 5 % step (events stay few). */
function progressWriter(em: EntityManager, bus: EventBus, asset: Asset) {
  let lastStage = '';
  let lastPercent = -100;
  const current = { stage: 'queued', percent: 0 };
  const write = async (state: ProcessingState, extra: Partial<Asset> = {}) => {
    current.stage = state.stage;
    current.percent = state.percent;
    const message = await em.transactional(async (tx) => {
      await tx.nativeUpdate(Asset, { id: asset.id }, { status: state.status, processingStage: state.stage, progress: state.percent, processingError: state.error, ...extra });
      return appendChestEvent(tx, { chestId: asset.chest.id, kind: ChestEventKind.ASSET_PROCESSING, assetId: asset.id, data: { ...state } });
    });
    publishChestEvents(bus, [message]);
  };
  return {
    async start() {
      await write({ stage: 'download', percent: 0, status: ProcessingStatus.PROCESSING, error: null }, { processingAttempts: asset.processingAttempts + 1 });
      asset.processingAttempts += 1;
    },
    /** Where the attempt got to, for the failure event. */
    current,
    stage: async (stage: string, percent: number) => {
      const p = Math.max(0, Math.min(99, Math.round(percent)));
      if (stage === lastStage && p - lastPercent < 5) return;
      lastStage = stage;
      lastPercent = p;
      await write({ stage, percent: p, status: ProcessingStatus.PROCESSING, error: null });
    },
  };
}

async function complete(em: EntityManager, bus: EventBus, queue: JobQueue | undefined, asset: Asset, r: PipelineResult): Promise<void> {
  const messages = await em.transactional(async (tx) => {
    // The AI step follows in its own job, committed with the result it builds on.
    if (queue) await queue.enqueue(tx, 'asset.analyse', { assetId: asset.id });
    await tx.nativeUpdate(
      Asset,
      { id: asset.id },
      {
        status: ProcessingStatus.COMPLETE,
        progress: 100,
        processingStage: 'done',
        processingError: null,
        processedAt: new Date(),
        width: r.width ?? null,
        height: r.height ?? null,
        durationSeconds: r.durationSeconds ?? null,
        // Metadata only fills a gap: a date a person set is never overwritten.
        ...(asset.dateTaken === null && r.dateTaken ? { dateTaken: r.dateTaken } : {}),
        location: r.location ?? asset.location,
        thumbnails: r.thumbnails,
        placeholder: r.placeholder ?? null,
        perceptualHash: r.perceptualHash ?? null,
        waveform: r.waveform ?? null,
        mediaInfo: { ...r.metadata, ...(r.needsOcr ? { needsOcr: true } : {}), ...(r.hasAudio ? { hasAudio: true } : {}) },
        extractedText: r.extractedText ?? asset.extractedText,
      },
    );
    return [await appendChestEvent(tx, { chestId: asset.chest.id, kind: ChestEventKind.ASSET_PROCESSING, assetId: asset.id, data: { stage: 'done', percent: 100, status: ProcessingStatus.COMPLETE, error: null } })];
  });
  publishChestEvents(bus, messages);
}

async function finish(
  em: EntityManager,
  bus: EventBus,
  asset: Asset,
  at: { stage: string; percent: number },
  status: ProcessingStatus,
  error: string,
): Promise<ChestEventMessage> {
  const message = await em.transactional(async (tx) => {
    await tx.nativeUpdate(Asset, { id: asset.id }, { status, processingError: error });
    return appendChestEvent(tx, {
      chestId: asset.chest.id,
      kind: ChestEventKind.ASSET_PROCESSING,
      assetId: asset.id,
      data: { stage: at.stage, percent: at.percent, status, error },
    });
  });
  publishChestEvents(bus, [message]);
  return message;
}
