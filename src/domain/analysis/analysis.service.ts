import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { LockMode } from '@mikro-orm/core';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Ai } from '../../ai/ai.registry.js';
import { AiProviderError, AiUnavailableError, type ImageDescription, type MadeBy } from '../../ai/ai.port.js';
import { describeLocally, looksLikeDocument } from '../../ai/local/image-tags.js';
import { extractKeywords } from '../../ai/local/keywords.js';
import { metadataFreeWebp, type PictureReadOptions } from '../../ai/local/picture.js';
import { Asset } from '../../db/entities/index.js';
import type { Analysis, Tag, Transcription } from '../../db/entities/asset.types.js';
import { ChestEventKind, FileType, ProcessingStatus, TagSource } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobContext } from '../../jobs/jobs.port.js';
import type { FaceEngine } from '../../ai/local/faces.js';
import { recaption } from '../people/captions.js';
import { replaceMachineFaces } from '../people/face-clustering.js';
import { type FacesFound, lookForFaces, lookForFacesInFilm, removeUnusedFaceCrops } from '../people/faces.step.js';
import { redactAsset } from '../people/redaction.js';
import type { Logger } from '../../logger.js';
import { fileUrl, runFfmpeg } from '../../media/ffmpeg.js';
import type { ParseLimits } from '../../media/sandbox/limits.js';
import { sampleFilmFrames } from '../../media/video-frames.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';

export interface AnalysisDeps {
  orm: MikroORM;
  storage: StorageBackend;
  events: EventBus;
  log: Logger;
  ai: Ai;
  /** The sandbox the step's own picture reads run in (SANDBOX_*); default DEFAULT_PARSE_LIMITS. */
  limits?: ParseLimits;
  /** Finds faces in photos and videos (poster and sample frames), which are then grouped into the chest's people; none: no faces task. */
  faces?: FaceEngine;
}

/** Tags the AI step owns; re-running it replaces these and keeps the rest (EXIF, people's own). */
const AI_SOURCES = new Set<TagSource>([TagSource.AI, TagSource.KEYWORD]);
const MAX_KEYWORD_TAGS = 8;
/** OCR output shorter than this many words is noise (a texture read as letters), not text. */
const MIN_OCR_WORDS = 3;
/** Tags by which a vision model says a picture is of text. */
const SCAN_WORDS = /^(document|letter|handwriting|text|page|newspaper|certificate)$/;
/** The side of the picture a vision model is given: the size of the largest thumbnail. */
const DESCRIBE_SIDE = 1024;

/**
 * The asset.analyse job: the AI's part, after the media pipeline. Photos and video posters get
 * tags and a caption (photos OCR too when they look like a page of text), recordings and videos
 * a transcript, scanned PDFs OCR, and transcripts and texts their keywords as tags. Each task is
 * recorded with the provider and model that did it, or why it could not be done. Idempotent, and
 * run again on demand (analyseAgain): results replace the previous run's AI and keyword tags, its
 * caption (the describeImage record keeps what it wrote) and a photo's OCR text; a person's
 * caption and tags stand. A retryable provider failure (rate limit, timeout) throws, so the
 * queue retries the job.
 */
export async function analyseAsset(deps: AnalysisDeps, job: JobContext<{ assetId: string }>): Promise<void> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: job.data.assetId }, { populate: ['chest'] });
  if (!asset || asset.deletedAt || asset.status !== ProcessingStatus.COMPLETE) return;
  const log = deps.log.child({ assetId: asset.id, jobId: job.id });
  const signal = job.signal;
  const records: Analysis[] = [];

  async function attempt<T extends MadeBy>(task: string, run: () => Promise<T>): Promise<T | null> {
    try {
      const result = await run();
      records.push({ task, status: 'DONE', provider: result.provider, model: result.model, error: null, at: new Date() });
      return result;
    } catch (err) {
      if (err instanceof AiUnavailableError) {
        records.push({ task, status: 'UNAVAILABLE', provider: null, model: null, error: err.message, at: new Date() });
        return null;
      }
      if (err instanceof AiProviderError && !err.retryable) {
        records.push({ task, status: 'FAILED', provider: null, model: null, error: err.message, at: new Date() });
        return null;
      }
      throw err;
    }
  }

  const dir = await mkdtemp(join(tmpdir(), 'dmc-analyse-'));
  try {
    const fetch = async (key: string, name: string) => {
      const path = join(dir, name);
      await pipeline(await deps.storage.get(key), createWriteStream(path), { signal });
      return path;
    };
    const original = await fetch(asset.storageKey, 'original');
    /** What this run found; merged with the memory as it is when saved (a person may edit it meanwhile). */
    let found: Tag[] = [];
    /** This run's caption; undefined when nothing described the picture this time. */
    let caption: string | null | undefined;
    let transcription: Transcription | null = asset.transcription;
    let extractedText = asset.extractedText;
    let faces: FacesFound | null = null;

    if (asset.fileType === FileType.IMAGE) {
      // Describe the 1024 px thumbnail (what a vision model needs, and no metadata leaves); OCR the original.
      // Without one, a copy made like it: the original's EXIF can hold GPS, and the model may be remote.
      const thumb = asset.thumbnails.find((t) => t.name === '1024');
      const reading = { limits: deps.limits?.sandbox, signal };
      let unreadable: AiProviderError | null = null;
      const picture = thumb
        ? { path: await fetch(thumb.storageKey, 'thumb.webp'), mimeType: thumb.mimeType }
        : await metadataFreeCopy(original, join(dir, 'picture.webp'), reading).catch((err: unknown) => {
            // The file's own fault (too large, damaged, a limit met): said on the task, not retried.
            if (err instanceof AiProviderError && !err.retryable) {
              unreadable = err;
              return null;
            }
            throw err;
          });
      const hints = { dateTaken: asset.dateTaken, latitude: asset.location?.latitude ?? null, width: asset.width, height: asset.height, place: asset.place };
      const described = await attempt('describeImage', async () => {
        if (!picture) throw unreadable ?? new AiProviderError('The picture could not be read to describe it', false);
        return deps.ai.describeImage({ ...picture, signal }, hints);
      });
      if (described) {
        found = mergeTags(found, described.tags.map((t) => ({ name: t.name, source: TagSource.AI, confidence: t.confidence })));
        caption = described.caption;
        noteCaption(records, described);
      }
      // Faces on the same metadata-free picture, always on this machine; grouped into people when saved.
      const engine = deps.faces;
      if (engine) {
        faces = await attempt('faces', async () => {
          if (!picture) throw unreadable ?? new AiProviderError('The picture could not be read to look for faces', false);
          return lookForFaces({ engine, storage: deps.storage }, asset, picture.path, signal);
        });
      }
      // Whether it is a page of text is a fact of the pixels, whichever provider described it.
      const scan =
        picture !== null &&
        (described?.provider === 'local'
          ? looksLikeDocument(described.tags)
          : (await isLocallyADocument(picture.path, hints, reading)) || !!described?.tags.some((t) => SCAN_WORDS.test(t.name)));
      if (scan) {
        const read = await attempt('extractText', () => deps.ai.extractText({ path: original, mimeType: asset.mimeType, signal }));
        // A photo's text is only ever OCR's: this reading replaces the last (an empty one clears junk an older OCR read).
        if (read) extractedText = wordCount(read.text) >= MIN_OCR_WORDS ? read.text : null;
      } else if (picture !== null) extractedText = null;
    }

    // A film is described by its poster: the 1024 px frame the pipeline made, with no metadata. Never OCR'd.
    const poster = asset.fileType === FileType.VIDEO ? asset.thumbnails.find((t) => t.name === 'poster-1024') : undefined;
    if (poster) {
      const frame = { path: await fetch(poster.storageKey, 'poster.webp'), mimeType: poster.mimeType, signal };
      const hints = { dateTaken: asset.dateTaken, latitude: asset.location?.latitude ?? null, width: asset.width, height: asset.height, place: asset.place };
      const described = await attempt('describeImage', () => deps.ai.describeImage(frame, hints));
      if (described) {
        found = mergeTags(found, described.tags.map((t) => ({ name: t.name, source: TagSource.AI, confidence: t.confidence })));
        caption = described.caption;
        noteCaption(records, described);
      }
      // People in films are grouped like people in photos, and a hidden one's face blurred in the posters non-members get.
      // Searched on the poster and a bounded sample of frames across the film: someone not in the poster frame is found too.
      const engine = deps.faces;
      if (engine) {
        const onSkipped = (atSeconds: number | null, err: unknown) => log.warn({ err, atSeconds }, 'frames of the film not searched for faces');
        faces = await attempt('faces', async () => {
          const frames = await sampleFilmFrames({ path: original, dir, signal, onSkipped });
          return lookForFacesInFilm({ engine, storage: deps.storage }, { asset, poster: frame.path, frames, signal, onSkipped });
        });
      }
    }

    if (asset.fileType === FileType.AUDIO || (asset.fileType === FileType.VIDEO && asset.mediaInfo?.hasAudio)) {
      // 16 kHz mono WAV: what speech models are trained on, and small enough to send.
      const wav = join(dir, 'speech.wav');
      await runFfmpeg(['-v', 'error', '-y', '-i', fileUrl(original), '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', fileUrl(wav)], { signal });
      const heard = await attempt('transcribe', () => deps.ai.transcribe({ path: wav, mimeType: 'audio/wav', signal }));
      if (heard) transcription = { text: heard.text, language: heard.language, segments: heard.segments, rough: heard.rough, confidence: heard.confidence };
    }

    if (asset.fileType === FileType.DOCUMENT && asset.mediaInfo?.needsOcr) {
      const read = await attempt('extractText', () => deps.ai.extractText({ path: original, mimeType: asset.mimeType, signal }));
      if (read && wordCount(read.text) >= MIN_OCR_WORDS) extractedText = read.text;
    }

    const texts = [transcription?.text, extractedText].filter((t): t is string => !!t && t.trim().length > 0);
    if (texts.length) {
      const keywords = extractKeywords(texts, MAX_KEYWORD_TAGS);
      const top = keywords[0]?.score ?? 1;
      found = mergeTags(found, keywords.map((k) => ({ name: k.keyword, source: TagSource.KEYWORD, confidence: Math.round((k.score / top) * 100) / 100 })));
      records.push({ task: 'keywords', status: 'DONE', provider: 'local', model: 'keywords-v1', error: null, at: new Date() });
    }

    signal.throwIfAborted();
    const message = await em.transactional(async (tx) => {
      // Read the memory again under lock: tags and a caption a person set meanwhile (updateMemory) stay.
      const now = await tx.findOne(Asset, { id: asset.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
      if (!now) return null;
      if (faces) await replaceMachineFaces(tx, { assetId: asset.id, chestId: asset.chest.id, found: faces.found });
      const tags = mergeTags(now.tags.filter((t) => !AI_SOURCES.has(t.source)), found);
      // The caption the last run wrote is the machine's and gives way to this run's; a person's stays.
      const machines = now.analyses.findLast((r) => r.task === 'describeImage' && r.status === 'DONE')?.caption;
      const persons = now.caption !== null && now.caption !== machines;
      await tx.nativeUpdate(Asset, { id: asset.id }, { tags, caption: persons || caption === undefined ? now.caption : caption, transcription, extractedText, analyses: records });
      // The people are known only now that the faces are placed: a photo of someone the family named says so.
      await recaption(tx, { assetIds: [asset.id] });
      return appendChestEvent(tx, {
        chestId: asset.chest.id,
        kind: ChestEventKind.ASSET_PROCESSING,
        assetId: asset.id,
        data: { stage: 'analysed', percent: 100, status: ProcessingStatus.COMPLETE, error: null },
      });
    });
    if (message) publishChestEvents(deps.events, [message]);
    if (faces) {
      await removeUnusedFaceCrops(em, deps.storage, asset).catch((err: unknown) => log.warn({ err }, 'unused face crops not removed'));
      // A new photo of a hidden person (or new thumbnails of one) is blurred for non-members before this job ends.
      await redactAsset({ ...deps, limits: deps.limits }, asset.id, signal);
    }
    log.info({ analyses: records.map((r) => `${r.task}:${r.status}`), faces: faces?.found.length, facePictures: faces?.pictures }, 'analysed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The dead-letter step for asset.analyse: the AI never answered; say so on the memory. */
export async function recordAnalysisGaveUp(deps: Pick<AnalysisDeps, 'orm'>, assetId: string): Promise<void> {
  const em = deps.orm.em.fork();
  const asset = await em.findOne(Asset, { id: assetId });
  if (!asset || asset.deletedAt) return;
  // retryProcessing is for memories whose processing failed, and this one's did not: say what works.
  const error =
    'The AI service could not be reached after several attempts, so this memory has no AI description, transcript or keywords. The memory itself is safe; an editor can add its caption, place and tags by hand (updateMemory).';
  await em.nativeUpdate(Asset, { id: assetId }, { analyses: [...asset.analyses, { task: 'analyse', status: 'FAILED', provider: null, model: null, error, at: new Date() }] });
}

/**
 * The picture a vision model may see when there is no 1024 px thumbnail: upright, at most
 * 1024 px, WebP, and without the original's metadata (sharp writes none unless asked). Made in
 * the sandbox (ai/local/picture.ts); rejects with a non-retryable AiProviderError saying why when
 * the original cannot be decoded or meets the sandbox's limits.
 */
async function metadataFreeCopy(original: string, path: string, reading: PictureReadOptions): Promise<{ path: string; mimeType: string }> {
  await metadataFreeWebp(original, path, DESCRIBE_SIDE, reading);
  return { path, mimeType: 'image/webp' };
}

/** The pixels' verdict, for a picture another provider described; one the sandbox cannot read is not taken for a page of text. */
async function isLocallyADocument(path: string, hints: Parameters<typeof describeLocally>[1], reading: PictureReadOptions): Promise<boolean> {
  try {
    return looksLikeDocument((await describeLocally(path, hints, reading)).tags);
  } catch (err) {
    if (err instanceof AiProviderError && !err.retryable) return false;
    throw err;
  }
}

/**
 * The describeImage record says what caption it wrote, so that a later run can tell it from a
 * person's, and what a locally composed one came from, so that it can follow the family's
 * decisions (domain/people/captions.ts).
 */
function noteCaption(records: Analysis[], described: ImageDescription): void {
  const record = records.findLast((r) => r.task === 'describeImage');
  if (!record) return;
  record.caption = described.caption;
  if (described.composedFrom) record.composedFrom = described.composedFrom;
}

/** Union by name, the first occurrence winning (people's and EXIF tags come first). */
function mergeTags(existing: Tag[], added: Tag[]): Tag[] {
  const seen = new Set(existing.map((t) => t.name.toLowerCase()));
  const out = [...existing];
  for (const t of added) {
    const key = t.name.toLowerCase();
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(t);
  }
  return out;
}

const wordCount = (text: string) => text.split(/\s+/).filter((w) => /\p{L}{2,}/u.test(w)).length;
