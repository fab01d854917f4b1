import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { EntityData, EntityManager, FilterQuery, MikroORM } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { ChestEventKind, FileType, ProcessingStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobContext, JobQueue } from '../../jobs/jobs.port.js';
import type { Logger } from '../../logger.js';
import { processDocument } from '../../media/document.pipeline.js';
import { processImage } from '../../media/image.pipeline.js';
import { MediaError, type PipelineContext, type PipelineInput, type PipelineResult } from '../../media/pipeline.types.js';
import { processRecording } from '../../media/recording.pipeline.js';
import type { ParseLimits } from '../../media/sandbox/limits.js';
import { ObjectNotFoundError, type StorageBackend } from '../../storage/storage.port.js';
import { appendChestEvent, type ChestEventMessage, publishChestEvents } from '../events/chest-events.service.js';
import { neutralFilename } from '../asset/download.js';
import { derivativeSink, removeStaleDerivatives } from './derivatives.js';

export interface ProcessingDeps {
  orm: MikroORM;
  storage: StorageBackend;
  events: EventBus;
  log: Logger;
  /** Where the AI step is enqueued once the media pipeline is done (none: no AI step). */
  queue?: JobQueue;
  /** Bounds on parsing untrusted files (config jobs.parseLimits); unset: the defaults. */
  limits?: ParseLimits;
}

const PIPELINES: Record<FileType, (input: PipelineInput, ctx: PipelineContext) => Promise<PipelineResult>> = {
  [FileType.IMAGE]: processImage,
  // The streams decide between the two (a video declared as audio is a video).
  [FileType.VIDEO]: processRecording,
  [FileType.AUDIO]: processRecording,
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
 * This attempt no longer holds the asset: a newer attempt claimed it (pg-boss gave the job to
 * another worker after a lapsed heartbeat) or the asset is done. Its writes are rolled back; it
 * stops and returns without a trace.
 */
class SupersededError extends Error {
  constructor() {
    super('A newer processing attempt holds this asset');
    this.name = 'SupersededError';
  }
}

/**
 * One attempt at processing an asset (the asset.process job). Idempotent: derivatives go to fixed
 * keys and results overwrite, so a retried or duplicated job leaves the same state as one run.
 * A file that cannot be processed (MediaError) ends FAILED at once with a reason for people;
 * anything else is thrown so the queue retries it with backoff.
 *
 * Fenced: the attempt claims the asset by bumping processingAttempts from the value it read, and
 * every later write matches that number. An attempt that woke up after the queue gave its job to
 * another worker changes nothing: no PENDING over a COMPLETE asset, no second 'done' event or
 * asset.analyse job.
 */
export async function processAsset(deps: ProcessingDeps, job: JobContext<{ assetId: string }>): Promise<void> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: job.data.assetId }, { populate: ['chest'] });
  // Deleted since, or already done by an earlier delivery of this job: nothing to do.
  if (!asset || asset.deletedAt || asset.status === ProcessingStatus.COMPLETE) return;
  const log = deps.log.child({ assetId: asset.id, jobId: job.id, attempt: job.attempt });
  // Every attempt that ends on its own leaves the row COMPLETE, FAILED or PENDING: one still
  // PROCESSING lost its process on the way (or its lease, while stalled: counted the same).
  const deaths = deathsInARow(asset);
  if (deaths >= MAX_PROCESS_DEATHS) {
    await giveUpAfterDeaths(em, deps.events, asset, deaths);
    log.warn({ deaths }, 'processing failed: its process died on it before');
    return;
  }
  // Aborted when a write finds the claim lost, so the pipeline's children (ffmpeg, ...) stop too.
  const fence = new AbortController();
  const report = progressWriter(em, deps.events, asset, fence);
  try {
    await report.claim(deaths);
  } catch (err) {
    if (!(err instanceof SupersededError)) throw err;
    log.info('processing skipped: another attempt holds this asset, or it is done');
    return;
  }
  log.info({ fileType: asset.fileType, fence: asset.processingAttempts }, 'processing');
  try {
    await attempt(deps, job, asset, em, report, fence, log);
  } catch (err) {
    if (!(err instanceof SupersededError) && !fence.signal.aborted) throw err;
    log.info({ fence: asset.processingAttempts }, 'processing superseded by a newer attempt; this one stopped');
  }
}

async function attempt(
  deps: ProcessingDeps,
  job: JobContext<{ assetId: string }>,
  asset: Asset,
  em: EntityManager,
  report: ReturnType<typeof progressWriter>,
  fence: AbortController,
  log: Logger,
): Promise<void> {
  const signal = AbortSignal.any([job.signal, fence.signal]);
  const dir = await mkdtemp(join(tmpdir(), 'dmc-process-'));
  try {
    const path = join(dir, 'original');
    await pipeline(await deps.storage.get(asset.storageKey), createWriteStream(path), { signal });
    const written = new Set<string>();
    const result = await PIPELINES[asset.fileType](
      // Pipelines name the file in failure messages, which everyone who may read sees: a neutral name.
      { path, mimeType: asset.mimeType, filename: neutralFilename(asset) },
      { derivatives: derivativeSink(deps.storage, asset, written), report: report.stage, signal, limits: deps.limits },
    );
    signal.throwIfAborted();
    await complete(em, deps.events, deps.queue, asset, result, fence);
    await removeStaleDerivatives(deps.storage, asset, written).catch((err: unknown) => log.warn({ err }, 'stale derivatives not removed'));
    log.info({ fileType: asset.fileType }, 'processed');
  } catch (err) {
    // A pipeline may wrap the fence's error (a MediaError around a failed stage report): the signal tells.
    if (err instanceof SupersededError || fence.signal.aborted) throw new SupersededError();
    const permanent = err instanceof MediaError ? err.message : err instanceof ObjectNotFoundError ? 'The original file is missing from storage' : null;
    if (permanent) {
      await finish(em, deps.events, asset, fenced(asset), report.current, ProcessingStatus.FAILED, permanent, fence);
      log.warn({ reason: permanent }, 'processing failed');
      return;
    }
    // Transient (storage down, worker stopping, a bug): the queue tries again later.
    const reason = job.signal.aborted ? 'Processing was interrupted' : 'Processing hit a temporary problem';
    await finish(em, deps.events, asset, fenced(asset), report.current, ProcessingStatus.PENDING, `${reason}; it will be tried again`, fence).catch((e: unknown) => {
      if (e instanceof SupersededError) throw e;
    });
    log.error({ err }, 'processing attempt failed; will retry');
    throw err;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The dead-letter step: an asset.process job used up its attempts (errors, or workers that died
 * holding it). The asset ends FAILED with a reason, never stuck in PROCESSING. No fence: no
 * attempt is left to hold it; but a late attempt may have finished it meanwhile, so the status
 * is checked in the same statement that writes.
 */
export async function recordProcessingGaveUp(deps: ProcessingDeps, assetId: string): Promise<void> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: assetId }, { populate: ['chest'] });
  if (!asset || asset.deletedAt || asset.status === ProcessingStatus.COMPLETE || asset.status === ProcessingStatus.FAILED) return;
  const last = asset.processingError?.replace(/; it will be tried again$/, '') ?? 'the worker stopped while processing it';
  const unfinished = { id: asset.id, status: { $nin: [ProcessingStatus.COMPLETE, ProcessingStatus.FAILED] } };
  const reason = `Processing did not finish after ${asset.processingAttempts} attempts (${last.charAt(0).toLowerCase()}${last.slice(1)})`;
  await finish(em, deps.events, asset, unfinished, { stage: asset.processingStage ?? 'queued', percent: asset.progress }, ProcessingStatus.FAILED, reason).catch((err: unknown) => {
    if (!(err instanceof SupersededError)) throw err;
  });
}

/**
 * Deaths of the process in a row, counted where the file could have caused them, before a memory
 * is FAILED: one is forgiven (a deploy's SIGKILL, the OOM killer choosing this worker for another
 * job's sake), a second on the same file is the file's doing, and a third would take the worker
 * down again.
 */
export const MAX_PROCESS_DEATHS = 2;

/**
 * Stages in which a death of the worker process is not the file's doing, so it is not counted: the
 * file is being copied, not read (`download`), or it is read by a child process the worker watches
 * (a sandbox, ffmpeg, ffprobe), whose own death on the file is seen and fails the memory at once,
 * and which the kernel's OOM killer picks before the worker (media/sandbox/process-caps.ts). A
 * worker killed then was killed from outside: a deploy, an operator, a machine short of memory.
 * Any other stage (the worker's own work on what a child returned, and any stage added later)
 * counts, so the rule errs on the side of stopping a file that might kill workers.
 */
export const NOT_THE_FILES_DOING: ReadonlySet<string> = new Set(['queued', 'download', 'decode', 'extract', 'probe', 'poster', 'waveform', 'rendition']);

/**
 * The deaths in a row that count against this file, including the one this attempt finds: the
 * row still PROCESSING means the last attempt's process died (or stalled past its lease). A death
 * in a stage of NOT_THE_FILES_DOING leaves the count as it was; an attempt that ended on its own
 * starts it again.
 */
export function deathsInARow(asset: Pick<Asset, 'status' | 'processingStage' | 'processingDeaths'>): number {
  if (asset.status !== ProcessingStatus.PROCESSING) return 0;
  return NOT_THE_FILES_DOING.has(asset.processingStage ?? 'queued') ? asset.processingDeaths : asset.processingDeaths + 1;
}

/**
 * The file took its process down with it `deaths` times in a row and this attempt would be the next:
 * the memory ends FAILED with a reason, untouched by a pipeline. Fenced on the attempt count read,
 * so a concurrent attempt that claimed it meanwhile wins.
 */
async function giveUpAfterDeaths(em: EntityManager, bus: EventBus, asset: Asset, deaths: number): Promise<void> {
  const where = { id: asset.id, processingAttempts: asset.processingAttempts, status: ProcessingStatus.PROCESSING };
  const times = deaths === 2 ? 'twice' : `${deaths} times`;
  const reason = `Processing this file stopped its worker ${times} without finishing (it may be damaged, or built to exhaust servers), so it is not tried again`;
  await finish(em, bus, asset, where, { stage: asset.processingStage ?? 'queued', percent: asset.progress }, ProcessingStatus.FAILED, reason).catch((err: unknown) => {
    if (!(err instanceof SupersededError)) throw err;
  });
}

/** The row as this attempt claimed it: any other attempt since has changed processingAttempts. */
const fenced = (asset: Asset): FilterQuery<Asset> => ({ id: asset.id, processingAttempts: asset.processingAttempts });

/**
 * Updates the row if it still matches `where`, in the caller's transaction; otherwise throws
 * SupersededError, which rolls the transaction back (events and jobs with it) and, through
 * `fence`, stops the attempt.
 */
async function updateIfHeld(tx: EntityManager, where: FilterQuery<Asset>, data: EntityData<Asset>, fence?: AbortController): Promise<void> {
  if ((await tx.nativeUpdate(Asset, where, data)) === 1) return;
  fence?.abort(new SupersededError());
  throw new SupersededError();
}

/** Stage reports: the row and an event, at most one per stage and 5 % step (events stay few). */
function progressWriter(em: EntityManager, bus: EventBus, asset: Asset, fence: AbortController) {
  let lastStage = '';
  let lastPercent = -100;
  const current = { stage: 'queued', percent: 0 };
  const write = async (where: FilterQuery<Asset>, state: ProcessingState, extra: EntityData<Asset> = {}) => {
    current.stage = state.stage;
    current.percent = state.percent;
    const message = await em.transactional(async (tx) => {
      await updateIfHeld(tx, where, { status: state.status, processingStage: state.stage, progress: state.percent, processingError: state.error, ...extra }, fence);
      return appendChestEvent(tx, { chestId: asset.chest.id, kind: ChestEventKind.ASSET_PROCESSING, assetId: asset.id, data: { ...state } });
    });
    publishChestEvents(bus, [message]);
  };
  return {
    /** Takes the asset for this attempt: from the attempt count read, unless it is done meanwhile. */
    async claim(deaths: number) {
      const read = asset.processingAttempts;
      const where = { id: asset.id, processingAttempts: read, status: { $ne: ProcessingStatus.COMPLETE }, deletedAt: null };
      await write(where, { stage: 'download', percent: 0, status: ProcessingStatus.PROCESSING, error: null }, { processingAttempts: read + 1, processingDeaths: deaths });
      asset.processingAttempts = read + 1;
    },
    /** Where the attempt got to, for the failure event. */
    current,
    stage: async (stage: string, percent: number) => {
      const p = Math.max(0, Math.min(99, Math.round(percent)));
      if (stage === lastStage && p - lastPercent < 5) return;
      lastStage = stage;
      lastPercent = p;
      await write(fenced(asset), { stage, percent: p, status: ProcessingStatus.PROCESSING, error: null });
    },
  };
}

async function complete(em: EntityManager, bus: EventBus, queue: JobQueue | undefined, asset: Asset, r: PipelineResult, fence: AbortController): Promise<void> {
  const messages = await em.transactional(async (tx) => {
    await updateIfHeld(
      tx,
      fenced(asset),
      {
        status: ProcessingStatus.COMPLETE,
        progress: 100,
        processingStage: 'done',
        processingError: null,
        processedAt: new Date(),
        width: r.width ?? null,
        height: r.height ?? null,
        durationSeconds: r.durationSeconds ?? null,
        location: r.location ?? asset.location,
        thumbnails: r.thumbnails,
        preview: r.preview ?? null,
        ...(r.fileType ? { fileType: r.fileType } : {}),
        placeholder: r.placeholder ?? null,
        perceptualHash: r.perceptualHash ?? null,
        waveform: r.waveform ?? null,
        mediaInfo: { ...r.metadata, ...(r.needsOcr ? { needsOcr: true } : {}), ...(r.hasAudio ? { hasAudio: true } : {}) },
        extractedText: r.extractedText ?? asset.extractedText,
      },
      fence,
    );
    // Metadata only fills a gap: a date a person set is never overwritten, even one set (through
    // updateMemory) while this attempt ran, so the condition is the row's, not what was read.
    if (r.dateTaken) await tx.nativeUpdate(Asset, { id: asset.id, dateTaken: null }, { dateTaken: r.dateTaken });
    // The AI step follows in its own job, committed with the result it builds on.
    if (queue) await queue.enqueue(tx, 'asset.analyse', { assetId: asset.id });
    return [await appendChestEvent(tx, { chestId: asset.chest.id, kind: ChestEventKind.ASSET_PROCESSING, assetId: asset.id, data: { stage: 'done', percent: 100, status: ProcessingStatus.COMPLETE, error: null } })];
  });
  publishChestEvents(bus, messages);
}

async function finish(
  em: EntityManager,
  bus: EventBus,
  asset: Asset,
  where: FilterQuery<Asset>,
  at: { stage: string; percent: number },
  status: ProcessingStatus,
  error: string,
  fence?: AbortController,
): Promise<ChestEventMessage> {
  const message = await em.transactional(async (tx) => {
    await updateIfHeld(tx, where, { status, processingError: error }, fence);
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
