import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import type { PictureRefusal, PictureStats, PictureTask } from '../../media/sandbox/picture.worker.js';
import { DEFAULT_SANDBOX_LIMITS, judgeSandboxError, runInSandbox, type SandboxLimits, workerEntry } from '../../media/sandbox/sandbox.js';
import { AiProviderError } from '../ai.port.js';

/**
 * The AI step's reads of a picture, in the sandbox (picture.worker.ts) with the same limits as
 * the media pipeline's: a picture built to exhaust a decoder ends that process, and the task is
 * recorded as FAILED with a reason for people, never retried into the same crash.
 */

const PICTURE_WORKER = workerEntry(import.meta.url, '../../media/sandbox/picture.worker');

export interface PictureReadOptions {
  limits?: SandboxLimits;
  signal?: AbortSignal;
}

/** The upright size and an upright sRGB copy of at most `side` px, flattened on white. */
export function pictureStats(path: string, side: number, opts: PictureReadOptions = {}): Promise<PictureStats> {
  return read<PictureStats>({ op: 'stats', path, side, maxPixels: MAX_INPUT_PIXELS }, opts);
}

/** An upright WebP of at most `side` px at `out`, without the original's metadata. */
export async function metadataFreeWebp(path: string, out: string, side: number, opts: PictureReadOptions = {}): Promise<void> {
  await read({ op: 'copy', path, out, side, quality: 85, maxPixels: MAX_INPUT_PIXELS }, opts);
}

async function read<R>(task: PictureTask, opts: PictureReadOptions): Promise<R> {
  const limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
  try {
    return await runInSandbox<R>({ entry: PICTURE_WORKER, data: task, limits, signal: opts.signal });
  } catch (err) {
    throw pictureProblem(err, limits);
  }
}

const REFUSALS: Record<PictureRefusal, string> = {
  pixels: `The picture is larger than ${MAX_INPUT_PIXELS / 1_000_000} megapixels and cannot be analysed`,
  unreadable: 'The picture could not be read; the file may be damaged or incomplete',
};

/** Non-retryable for anything the file caused; a sandbox that never started stays transient (the job is retried). */
export function pictureProblem(err: unknown, limits: SandboxLimits): unknown {
  const final = (message: string) => new AiProviderError(message, false);
  return judgeSandboxError(err, {
    refused: (reason) => final(REFUSALS[reason as PictureRefusal] ?? REFUSALS.unreadable),
    memory: () => final(`The picture is too large or complex to analyse: it needs more than the ${limits.memoryMb} MB of memory one file may use`),
    time: () => final(`The picture is too large or complex to analyse: it takes longer than the ${Math.round(limits.timeoutMs / 1000)} seconds one file may take`),
    crashed: () => final('The picture could not be read: the decoder stopped on it, and would again'),
  });
}
