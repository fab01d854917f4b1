import { type ChildProcess, fork } from 'node:child_process';
import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import { cappedNode, killFirstUnderMemoryPressure } from '../../media/sandbox/process-caps.js';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits, workerEntry } from '../../media/sandbox/sandbox.js';
import { AiProviderError } from '../ai.port.js';
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

interface Engine {
  child: ChildProcess;
  /** Its imports loaded: a death from here on is a picture's doing. */
  ready: boolean;
}

/** One engine process, started on first use and reused; pictures go one at a time. */
export class FaceApiEngine implements FaceEngine {
  private engine: Engine | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private readonly limits: SandboxLimits;

  constructor(private readonly opts: FaceEngineOptions = {}) {
    this.limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
  }

  detect(input: { path: string; signal?: AbortSignal }): Promise<FaceDetection> {
    const job = this.queue.then(() => this.run(input.path, input.signal));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Ends the engine process. A later `detect` starts a new one. */
  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = null;
    if (!engine || engine.child.exitCode !== null || engine.child.signalCode !== null) return;
    const exited = new Promise((resolve) => engine.child.once('exit', resolve));
    engine.child.kill('SIGKILL');
    await exited;
  }

  private run(path: string, signal?: AbortSignal): Promise<FaceDetection> {
    signal?.throwIfAborted();
    const engine = (this.engine ??= this.spawn());
    const id = this.nextId++;
    const { child } = engine;
    return new Promise<FaceDetection>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void, kill: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        child.off('exit', onExit);
        // tfjs cannot cancel a running model: the process goes, and the next picture starts a new one.
        if (kill) this.discard(engine);
        fn();
      };
      const onAbort = () => settle(() => reject(signal?.reason instanceof Error ? signal.reason : new Error('Aborted')), true);
      const timer = setTimeout(() => settle(() => reject(this.limitError('time')), true), this.limits.timeoutMs);
      const onMessage = (m: FacesChildMessage) => {
        if (m.type === 'ready' || m.id !== id) return;
        if (m.type === 'detecting') this.opts.onDetecting?.(child.pid ?? 0);
        else if (m.type === 'result') {
          const faces = m.faces.map((f) => ({ box: f.box, score: round3(f.score), descriptor: f.descriptor, crop: Buffer.from(f.crop.buffer, f.crop.byteOffset, f.crop.byteLength) }));
          settle(() => resolve({ provider: 'local', model: FACE_MODEL, width: m.width, height: m.height, faces }), false);
        } else settle(() => reject(this.refusalError(m.reason, m.detail)), m.reason === 'engine');
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        // Before its imports loaded (a broken install, no processes left) the death says nothing about the picture: retried.
        if (!engine.ready) return settle(() => reject(new AiProviderError(`The face engine could not start (${sig ?? `exit code ${code}`})`, true)), false);
        settle(() => reject(this.limitError('memory')), false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('message', onMessage);
      child.on('exit', onExit);
      const request: FacesChildRequest = { type: 'detect', id, path, maxPixels: MAX_INPUT_PIXELS, minScore: MIN_FACE_SCORE, cropSide: FACE_CROP_SIDE };
      child.send(request, (err) => {
        if (err) settle(() => reject(new AiProviderError(`The face engine could not be reached: ${err.message}`, true)), true);
      });
    });
  }

  private spawn(): Engine {
    const { memoryMb } = this.limits;
    const child = fork(FACES_CHILD, [], {
      // Caps of its own, not the parent's flags. The models' weights and tensors live in wasm
      // memory, outside the V8 heap: --wasm-max-mem-pages (64 KiB pages) bounds it, and the
      // kernel cap counts it on top of what sharp takes decoding the picture.
      ...cappedNode({ heapMb: memoryMb, nativeMb: this.limits.nativeMemoryMb > 0 ? this.limits.nativeMemoryMb + memoryMb : 0, flags: [`--wasm-max-mem-pages=${memoryMb * 16}`] }),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      // One libvips thread: the models are single-threaded too, and jobs run side by side.
      env: { VIPS_CONCURRENCY: '1' },
    });
    killFirstUnderMemoryPressure(child);
    const engine: Engine = { child, ready: false };
    child.on('message', (m: FacesChildMessage) => {
      if (m.type === 'ready') engine.ready = true;
    });
    // A failed spawn is reported as 'error' then 'exit'; the job waiting on it hears the exit.
    child.on('error', () => undefined);
    child.once('exit', () => {
      if (this.engine === engine) this.engine = null;
    });
    return engine;
  }

  private discard(engine: Engine): void {
    if (this.engine === engine) this.engine = null;
    engine.child.kill('SIGKILL');
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
