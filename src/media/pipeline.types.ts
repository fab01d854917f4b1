import type { FileType } from '../db/enums.js';
import type { ParseLimits } from './sandbox/limits.js';

/**
 * What every media pipeline receives and returns. Pipelines are pure with respect to the
 * database: they read a local copy of the original, write derivatives through `derivatives`,
 * report progress through `report`, and return what they learned. The processing service
 * (src/domain/processing/) decides what to store and which events to publish.
 */

export interface PipelineInput {
  /** A local file holding the original (ffmpeg and pdf readers need a seekable file). */
  path: string;
  /** MIME type sniffed from the bytes at upload. */
  mimeType: string;
  /** Sanitised original file name (only for messages; never used as a path). */
  filename: string;
}

/**
 * Writes one derivative (thumbnail, poster, ...) and returns its storage key. Keys are derived
 * from the asset id and `name`, so re-running a pipeline replaces derivatives instead of adding
 * new ones (idempotent jobs).
 */
export type DerivativeSink = (name: string, body: Buffer | DerivativeFile, mimeType: string) => Promise<string>;

/** A derivative too big to hold in memory (a recording or video preview): a local file, streamed to storage. */
export interface DerivativeFile {
  path: string;
  size: number;
}

/** Reports a stage and its percent (0–100 within the whole pipeline, never decreasing). */
export type StageReporter = (stage: string, percent: number) => Promise<void>;

export interface PipelineContext {
  derivatives: DerivativeSink;
  report: StageReporter;
  /** Aborted when the worker is shutting down; long steps (ffmpeg) should stop early. */
  signal?: AbortSignal;
  /** Bounds on parsing untrusted files (sandbox heap and time, archive checks); unset: the defaults. */
  limits?: ParseLimits;
}

export interface DerivedImage {
  name: string;
  width: number;
  height: number;
  mimeType: string;
  storageKey: string;
}

/**
 * The copy of a recording or video that people outside the family receive: re-encoded, with no
 * metadata, chapters or cover art (see media/rendition.ts).
 */
export interface DerivedPreview {
  name: string;
  mimeType: string;
  size: number;
  storageKey: string;
}

export interface MediaLocation {
  latitude: number;
  longitude: number;
  altitude?: number | null;
}

export interface PipelineResult {
  width?: number | null;
  height?: number | null;
  durationSeconds?: number | null;
  dateTaken?: Date | null;
  location?: MediaLocation | null;
  thumbnails: DerivedImage[];
  /** The metadata-free copy for non-members (recordings and videos; photos have thumbnails, documents their text). */
  preview?: DerivedPreview | null;
  /** The kind the bytes turned out to be, when it differs from the upload's (a video in an "audio" file). */
  fileType?: FileType;
  /** ThumbHash of the image or poster, base64: a blurred placeholder clients draw before loading. */
  placeholder?: string | null;
  /** 64-bit perceptual hash (hex) for near-duplicate photos. */
  perceptualHash?: string | null;
  /** Normalised peak amplitudes 0..1 for an audio player's waveform. */
  waveform?: number[] | null;
  /** Technical facts worth keeping (codec, bit rate, page count, ...), small and flat. */
  metadata?: Record<string, string | number | boolean | null>;
  extractedText?: string | null;
  /** The document is a scan (no text layer): OCR should read it (AI issue). */
  needsOcr?: boolean;
  /** Has speech to transcribe (audio, or a video's audio track) (AI issue). */
  hasAudio?: boolean;
}

/**
 * A failure that retrying cannot fix (a corrupt or unreadable file). The message is shown to the
 * family, so it is written for people. Anything else thrown from a pipeline counts as transient.
 */
export class MediaError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MediaError';
  }
}
