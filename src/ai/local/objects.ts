import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import { DEFAULT_SANDBOX_LIMITS, type SandboxLimits, workerEntry } from '../../media/sandbox/sandbox.js';
import { AiProviderError, AiUnavailableError, type ImageTag } from '../ai.port.js';
import { EngineProcess } from './engine-process.js';
import type { ChildPicture, ObjectsChildMessage, ObjectsChildRequest, ObjectsRefusal } from './objects.child.js';

/**
 * Objects in a picture, offline: the CenterNet COCO model that ships in @vladmandic/human's
 * models/ (4 MB of weights), run on tfjs's WebAssembly backend in a child process of its own
 * (objects.child.ts), out of the worker's way and loaded once per process: a V8 heap cap and a
 * WebAssembly memory cap of SANDBOX_MEMORY_MB, the kernel's cap on native memory, a time limit of
 * SANDBOX_TIMEOUT_SECONDS per picture, killed when its job stops. A picture that meets a limit,
 * or kills the engine, is a non-retryable AiProviderError saying why.
 */

const require = createRequire(import.meta.url);

export const OBJECT_MODEL = 'centernet-coco';
/** Checked before the engine starts: without it every picture would fail the same way. */
const MODEL_FILE = join(dirname(require.resolve('@vladmandic/human')), '..', 'models', 'centernet.json');
const OBJECTS_CHILD = workerEntry(import.meta.url, './objects.child');

/**
 * A detection becomes a tag at this score. Measured on the real photos shipped in node_modules
 * (face-api's demo/sample1..6, human's screenshot-faceid and screenshot-vrm), each as the
 * original and as 1024 px WebP at quality 80 (the thumbnail) and 85 (the AI step's own copy), 24
 * pictures in all, labels checked by eye: at 0.35, 30 tags right and 3 wrong (one phone on a sofa
 * taken for a remote control, at 0.44-0.47 in all three renderings); the best other wrong label
 * scored 0.30 (a white sleeve taken for a cup). 0.3 adds 3 right tags and that cup; 0.5 keeps 19
 * right and none wrong but loses most wine glasses, cups and phones. See docs/ai.md "Pictures".
 */
export const TAG_THRESHOLD = 0.35;
/** What the engine reports at all (tests and the bench see below the tag threshold). */
const REPORT_FLOOR = 0.1;

/**
 * COCO's 80 classes in the model's order, in plain words: the dataset's own, except where they
 * are not what people say ("tv", "cell phone", "sports ball", "hair drier").
 */
export const COCO_LABELS: readonly string[] = [
  'person', 'bicycle', 'car', 'motorcycle', 'aeroplane', 'bus', 'train', 'lorry', 'boat', 'traffic light',
  'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
  'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
  'skis', 'snowboard', 'ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
  'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
  'broccoli', 'carrot', 'hot dog', 'pizza', 'doughnut', 'cake', 'chair', 'sofa', 'pot plant', 'bed',
  'table', 'toilet', 'television', 'laptop', 'computer mouse', 'remote control', 'keyboard', 'phone', 'microwave', 'oven',
  'toaster', 'sink', 'fridge', 'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair dryer', 'toothbrush',
];

export interface DetectedObject {
  /** A COCO label in plain words ("person", "dog", "wine glass"). */
  label: string;
  /** 0..1, two decimals. */
  score: number;
  /** Fractions of the upright picture, from its top-left corner. */
  box: { x: number; y: number; width: number; height: number };
}

export interface ObjectCount {
  label: string;
  count: number;
}

/**
 * Tags and counts from detections at or above `threshold`: one tag per label, its confidence
 * the best score, and how many boxes of it were seen; best first.
 */
export function summariseObjects(objects: readonly DetectedObject[], threshold = TAG_THRESHOLD): { tags: ImageTag[]; counts: ObjectCount[] } {
  const byLabel = new Map<string, { best: number; count: number }>();
  for (const o of objects) {
    if (o.score < threshold) continue;
    const seen = byLabel.get(o.label);
    if (seen) {
      seen.count++;
      seen.best = Math.max(seen.best, o.score);
    } else byLabel.set(o.label, { best: o.score, count: 1 });
  }
  const ranked = [...byLabel.entries()].sort((a, b) => b[1].best - a[1].best || (a[0] < b[0] ? -1 : 1));
  return {
    tags: ranked.map(([name, { best }]) => ({ name, confidence: best })),
    counts: ranked.map(([label, { count }]) => ({ label, count })),
  };
}

export interface ObjectDetectorOptions {
  /** Heap (and wasm memory) of the engine's process, and the time one picture may take. */
  limits?: SandboxLimits;
  /** Told the engine process's id, and how many times it has loaded the model, when a detection starts (logs, tests). */
  onDetecting?: (pid: number, modelLoads: number) => void;
}

/** One engine process (engine-process.ts), started on first use and reused; jobs run one at a time. */
export class ObjectDetector {
  private readonly engine: EngineProcess;
  private readonly limits: SandboxLimits;

  constructor(private readonly opts: ObjectDetectorOptions = {}) {
    this.limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
    this.engine = new EngineProcess({ entry: fileURLToPath(OBJECTS_CHILD), limits: this.limits, name: 'The object detector', limitError: (limit) => this.limitError(limit) });
  }

  /** Everything seen at a score of 0.1 or more, best first; `TAG_THRESHOLD` says what counts. */
  async detect(path: string, signal?: AbortSignal): Promise<DetectedObject[]> {
    return (await this.look({ path, signal, picture: false })).objects;
  }

  /**
   * detect, and with `picture` also the upright 8-bit copy (at most 512 px) the engine decoded:
   * the page-of-text check reads it, so a photo is decoded once for both, in this capped process,
   * instead of again in a fresh sandbox.
   */
  async look(input: { path: string; signal?: AbortSignal; picture: boolean }): Promise<{ objects: DetectedObject[]; picture: ChildPicture | null }> {
    const { path, signal } = input;
    signal?.throwIfAborted();
    try {
      await access(MODEL_FILE);
    } catch {
      throw new AiUnavailableError("The object model (@vladmandic/human's models/centernet.json) is not installed");
    }
    return this.engine.request<ObjectsChildRequest, { objects: DetectedObject[]; picture: ChildPicture | null }>({
      signal,
      build: (id) => ({ type: 'detect', id, path, maxPixels: MAX_INPUT_PIXELS, minScore: REPORT_FLOOR, picture: input.picture }),
      onReply: (reply, pid) => {
        const m = reply as ObjectsChildMessage & { id: number };
        if (m.type === 'detecting') return void this.opts.onDetecting?.(pid, m.modelLoads);
        if (m.type === 'result') {
          const objects = m.detections.map((d) => ({
            label: COCO_LABELS[d.cls] ?? 'object',
            score: round2(d.score),
            box: { x: round3(d.box[0]), y: round3(d.box[1]), width: round3(d.box[2]), height: round3(d.box[3]) },
          }));
          return { value: { objects, picture: m.picture ?? null } };
        }
        // A model run cannot be interrupted: an engine that broke goes, and the next job starts a new one.
        if (m.type === 'refused') return { error: this.refusalError(m.reason, m.detail), kill: m.reason === 'engine' };
        return undefined;
      },
    });
  }

  /** Ends the engine process. A later `detect` starts a new one. */
  close(): Promise<void> {
    return this.engine.close();
  }

  private limitError(limit: 'memory' | 'time'): AiProviderError {
    return new AiProviderError(
      limit === 'memory'
        ? `The picture could not be looked at for objects: that needs more than the ${this.limits.memoryMb} MB of memory one file may use, or the detector stops on it`
        : `The picture could not be looked at for objects: that takes longer than the ${Math.round(this.limits.timeoutMs / 1000)} seconds one file may take`,
      false,
    );
  }

  private refusalError(reason: ObjectsRefusal, detail: string): AiProviderError {
    if (reason === 'pixels') return new AiProviderError(`The picture is larger than ${MAX_INPUT_PIXELS / 1_000_000} megapixels and cannot be analysed`, false);
    if (reason === 'unreadable') return new AiProviderError('The picture could not be read; the file may be damaged or incomplete', false);
    // WebAssembly that cannot grow within its cap says so in words rather than by dying.
    if (/memory|OOM|enlarge|alloc/i.test(detail)) return this.limitError('memory');
    return new AiProviderError(`The picture could not be looked at for objects: ${detail}`, false);
  }
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const round3 = (n: number): number => Math.round(n * 1000) / 1000;
