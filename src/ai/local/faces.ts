import { fileURLToPath } from 'node:url';
import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits, workerEntry } from '../../media/sandbox/sandbox.js';
import { AiProviderError } from '../ai.port.js';
import { EngineProcess } from './engine-process.js';
import type { FacesChildMessage, FacesChildRequest, FacesRefusal } from './faces.child.js';

/**
 * Faces found with @vladmandic/face-api (SSD-MobileNet v1, 68-point landmarks, 128-d
 * descriptors) on tfjs's WebAssembly backend, entirely offline, out of the API's way: the
 * picture is decoded and the models run in a child process of its own (faces.child.ts) that loads
 * the models once and then serves one picture at a time, with a V8 heap cap and a cap on
 * WebAssembly memory of SANDBOX_MEMORY_MB, a time limit of SANDBOX_TIMEOUT_SECONDS per picture,
 * and killed when its job stops. A picture that meets a limit, or kills the engine, is a
 * non-retryable AiProviderError saying why.
 */

const FACES_CHILD = workerEntry(import.meta.url, './faces.child');

/** Which models found and described the faces, as the analysis records it. */
export const FACE_MODEL = 'face-api-ssd-mobilenet';

/**
 * Two faces closer than this (euclidean distance between descriptors) are taken for one person.
 * Measured with this engine on the six group photos in @vladmandic/face-api's demo/ (22 faces of
 * 22 people, 1024 px WebP as the pipeline makes them) and 66 crops of them (each face cut out
 * with 0.6, 1.2 and 2 face-widths around it, rescaled, re-toned, recompressed as JPEG): in the 59
 * crops where the face was found again, it was 0.11 to 0.40 from itself (median 0.16); two
 * different people were never closer than 0.45. face-api's usual 0.6 would have joined 22 pairs
 * of different people. Lower: one person split into several, which mergePeople joins; higher:
 * strangers grouped, which is worse (a hidden person's face in someone else's group is not hidden).
 */
export const SAME_PERSON_DISTANCE = 0.42;
/** Detections below this score are not kept as faces. */
export const MIN_FACE_SCORE = 0.5;
/** Side of the face crops (people's covers), px. */
export const FACE_CROP_SIDE = 160;

export interface DetectedFace {
  /** Relative to the upright picture: 0..1 from its top left corner. */
  box: { x: number; y: number; width: number; height: number };
  /** The detector's confidence, 0..1. */
  score: number;
  /** 128 numbers; faces of one person lie close together (see faceDistance). */
  descriptor: Float32Array;
  /** A square WebP crop around the face, without metadata. */
  crop: Buffer;
}

export interface FaceDetection {
  provider: 'local';
  model: typeof FACE_MODEL;
  /** Size of the picture looked at. */
  width: number;
  height: number;
  faces: DetectedFace[];
}

/** What the AI step needs of a face engine (tests may hand it another). */
export interface FaceEngine {
  detect(input: { path: string; signal?: AbortSignal }): Promise<FaceDetection>;
  close(): Promise<void>;
}

export interface FaceEngineOptions {
  /** Heap (and wasm memory) of the engine's process, and the time one picture may take. */
  limits?: SandboxLimits;
  /** Told the engine process's id when a detection really starts in it (logs, tests). */
  onDetecting?: (pid: number) => void;
}

/** One engine process (engine-process.ts), started on first use and reused; pictures go one at a time. */
export class FaceApiEngine implements FaceEngine {
  private readonly process: EngineProcess;
  private readonly limits: SandboxLimits;

  constructor(private readonly opts: FaceEngineOptions = {}) {
    this.limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
    this.process = new EngineProcess({
      entry: fileURLToPath(FACES_CHILD),
      limits: this.limits,
      // One libvips thread: the models are single-threaded too, and jobs run side by side.
      env: { VIPS_CONCURRENCY: '1' },
      name: 'The face engine',
      limitError: (limit) => this.limitError(limit),
    });
  }

  detect(input: { path: string; signal?: AbortSignal }): Promise<FaceDetection> {
    return this.process.request<FacesChildRequest, FaceDetection>({
      build: (id) => ({ type: 'detect', id, path: input.path, maxPixels: MAX_INPUT_PIXELS, minScore: MIN_FACE_SCORE, cropSide: FACE_CROP_SIDE }),
      onReply: (message, pid) => {
        const m = message as FacesChildMessage;
        if (m.type === 'detecting') return void this.opts.onDetecting?.(pid);
        if (m.type === 'result') {
          const faces = m.faces.map((f) => ({ box: f.box, score: round3(f.score), descriptor: f.descriptor, crop: Buffer.from(f.crop.buffer, f.crop.byteOffset, f.crop.byteLength) }));
          return { value: { provider: 'local', model: FACE_MODEL, width: m.width, height: m.height, faces } };
        }
        if (m.type === 'refused') return { error: this.refusalError(m.reason, m.detail), kill: m.reason === 'engine' };
        return undefined;
      },
      signal: input.signal,
    });
  }

  /** Ends the engine process. A later `detect` starts a new one. */
  close(): Promise<void> {
    return this.process.close();
  }

  private limitError(limit: 'memory' | 'time'): AiProviderError {
    return new AiProviderError(
      limit === 'memory'
        ? `Faces could not be looked for: that needs more than the ${this.limits.memoryMb} MB of memory one file may use, or the face engine stops on this picture`
        : `Faces could not be looked for: that takes longer than the ${Math.round(this.limits.timeoutMs / 1000)} seconds one file may take`,
      false,
    );
  }

  private refusalError(reason: FacesRefusal, detail: string): AiProviderError {
    if (reason === 'pixels') return new AiProviderError(`The picture is larger than ${MAX_INPUT_PIXELS / 1_000_000} megapixels and cannot be looked at for faces`, false);
    if (reason === 'unreadable') return new AiProviderError('The picture could not be read to look for faces; the file may be damaged', false);
    // WebAssembly that could not grow within its cap says so in words rather than dying.
    if (/memory|OOM|enlarge|alloc/i.test(detail)) return this.limitError('memory');
    return new AiProviderError(`Faces could not be looked for: ${detail}`, false);
  }
}

/** Euclidean distance between two descriptors: under SAME_PERSON_DISTANCE, one person. */
export function faceDistance(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    sum += d * d;
  }
  return Math.sqrt(sum);
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;
