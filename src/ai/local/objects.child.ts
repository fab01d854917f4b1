/**
 * The object detector's own process (objects.ts forks it): the CenterNet COCO model shipped in
 * @vladmandic/human's models/ (a MobileNetV3 CenterNet, 512×512 input, 80 COCO classes) runs
 * here on @tensorflow/tfjs with the WebAssembly backend, and the picture is decoded here by
 * sharp, so a picture built to exhaust either ends this process, never the worker. The parent
 * caps its V8 heap, its WebAssembly memory and (through prlimit) its native memory, kills it at
 * its time limit or when its job stops, and starts a fresh one for the next job.
 *
 * The model is loaded once, with the first job, and reused for every later one. Weights come
 * from disk (Node's fetch has no file://): the JSON topology and the .bin are read and handed to
 * tfjs through an in-memory IOHandler; the wasm binaries are read from the backend's dist folder.
 * Nothing is ever fetched. Erasable TypeScript importing only packages (it runs as stripped .ts
 * under tsx/vitest; see workerEntry in media/sandbox/sandbox.ts).
 *
 * Messages in: `{ type: 'detect', id, path, maxPixels, minScore }`. Out: `{ type: 'ready' }`
 * once its imports are loaded (a death before that says nothing about a file); per job
 * `{ type: 'detecting', id, modelLoads }` when the picture is decoded and the model ready, then
 * `{ type: 'result', id, detections }` (class index into COCO's 80, score, box as fractions of
 * the picture) or `{ type: 'refused', id, reason, detail }`.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import sharp from 'sharp';

/** `picture`: also send back the 8-bit sRGB copy decoded here (at most the model's side, never enlarged), for the page-of-text check. */
export type ObjectsChildRequest = { type: 'detect'; id: number; path: string; maxPixels: number; minScore: number; picture?: boolean };
/** Upright sRGB pixels on white, 3 channels, at most the model's side: what the page-of-text check reads. */
export interface ChildPicture {
  data: Uint8Array;
  width: number;
  height: number;
  channels: number;
}
export type ObjectsRefusal = 'pixels' | 'unreadable' | 'engine';
/** One detection: `cls` indexes COCO's 80 classes in the model's order; the box is [x, y, width, height], 0..1 of the picture. */
export interface RawDetection {
  cls: number;
  score: number;
  box: [number, number, number, number];
}
export type ObjectsChildMessage =
  | { type: 'ready' }
  | { type: 'detecting'; id: number; modelLoads: number }
  | { type: 'result'; id: number; detections: RawDetection[]; picture?: ChildPicture }
  | { type: 'refused'; id: number; reason: ObjectsRefusal; detail: string };

const require = createRequire(import.meta.url);

/** @vladmandic/human's exports map resolves only its dist files; models/ sits beside dist/. */
const MODEL_DIR = join(dirname(require.resolve('@vladmandic/human')), '..', 'models');
const WASM_DIR = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
/** The graph's output with decoded boxes: [1, 100, 6] of x1, y1, x2, y2 (input pixels), score, class. */
const DETECTIONS = 'tower_0/detections';
/** Boxes of one class overlapping more than this are one object seen twice. */
const NMS_IOU = 0.5;

class Refused extends Error {
  reason: ObjectsRefusal;
  constructor(reason: ObjectsRefusal, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

interface Loaded {
  model: tf.GraphModel;
  /** The square side the model takes (512), from its signature. */
  side: number;
}

let loading: Promise<Loaded> | null = null;
let modelLoads = 0;

function load(): Promise<Loaded> {
  loading ??= (async () => {
    setWasmPaths(`${WASM_DIR}/`);
    if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs WebAssembly backend did not start');
    await tf.ready();
    tf.enableProdMode();
    const json = JSON.parse(await readFile(join(MODEL_DIR, 'centernet.json'), 'utf8'));
    const manifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] = json.weightsManifest;
    const shards = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => readFile(join(MODEL_DIR, p)))));
    const weightData = new Uint8Array(Buffer.concat(shards)).buffer;
    const fromDisk: tf.io.IOHandler = {
      load: async () => ({
        modelTopology: json.modelTopology,
        weightSpecs: manifest.flatMap((group) => group.weights),
        weightData,
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
      }),
    };
    const model = await tf.loadGraphModel(fromDisk);
    const dims = json.signature?.inputs?.['tower_0/images']?.tensorShape?.dim;
    const side = Number(dims?.[1]?.size) || 512;
    modelLoads++;
    return { model, side };
  })();
  // A failed load is not kept: the parent replaces this process after an engine refusal anyway.
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

/**
 * The picture upright, on white where it was transparent, scaled (up or down) so its longer side
 * is the model's side, and placed in the top-left corner of a black square of that side: the
 * model sees undistorted shapes (stretching to a square costs people detections), and boxes map
 * back by one division. A picture whose header claims more than maxPixels is refused first.
 */
async function prepare(path: string, side: number, maxPixels: number, withPicture: boolean): Promise<{ input: Float32Array; width: number; height: number; picture?: ChildPicture }> {
  try {
    const open = () => sharp(path, { failOn: 'none', limitInputPixels: maxPixels });
    const meta = await open().metadata();
    if ((meta.width ?? 0) * (meta.height ?? 0) > maxPixels) throw new Refused('pixels', 'Input image exceeds pixel limit');
    const upright = () => open().rotate().flatten({ background: '#ffffff' }).toColourspace('srgb');
    const { data, info } = await upright().resize(side, side, { fit: 'inside' }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    let picture: ChildPicture | undefined;
    if (withPicture) {
      // The page check reads the picture as it is, never enlarged: a small one is decoded again at its own size (cheap, it is small).
      const enlarged = Math.max(meta.autoOrient?.width ?? meta.width ?? 0, meta.autoOrient?.height ?? meta.height ?? 0) < side;
      const own = enlarged ? await upright().removeAlpha().raw().toBuffer({ resolveWithObject: true }) : { data, info };
      picture = { data: new Uint8Array(own.data.buffer, own.data.byteOffset, own.data.byteLength), width: own.info.width, height: own.info.height, channels: own.info.channels };
    }
    const input = new Float32Array(side * side * 3);
    const rowBytes = info.width * info.channels;
    for (let y = 0; y < info.height; y++) {
      for (let x = 0; x < info.width; x++) {
        const from = y * rowBytes + x * info.channels;
        const to = (y * side + x) * 3;
        input[to] = data[from]!;
        input[to + 1] = data[from + 1]!;
        input[to + 2] = data[from + 2]!;
      }
    }
    return { input, width: info.width, height: info.height, picture };
  } catch (err) {
    if (err instanceof Refused) throw err;
    throw new Refused(/pixel limit/i.test(describe(err)) ? 'pixels' : 'unreadable', describe(err));
  }
}

const clamp01 = (n: number): number => Math.min(1, Math.max(0, n));

/** Intersection over union of two [x, y, width, height] boxes. */
function iou(a: RawDetection['box'], b: RawDetection['box']): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a[2] * a[3] + b[2] * b[3] - inter);
}

/**
 * The model's 100 candidates as detections: at least `minScore`, boxes in fractions of the
 * picture (the padding is not the picture), then per class a greedy non-maximum suppression, so
 * one dog is one box. Highest score first.
 */
function decode(raw: Float32Array, width: number, height: number, minScore: number): RawDetection[] {
  const candidates: RawDetection[] = [];
  // Coordinates are in input pixels; the picture fills `width` × `height` of the square from its top-left corner.
  for (let i = 0; i + 5 < raw.length; i += 6) {
    const score = raw[i + 4]!;
    const cls = raw[i + 5]!;
    if (!(score >= minScore) || !Number.isInteger(cls) || cls < 0) continue;
    const x1 = clamp01(raw[i]! / width);
    const y1 = clamp01(raw[i + 1]! / height);
    const x2 = clamp01(raw[i + 2]! / width);
    const y2 = clamp01(raw[i + 3]! / height);
    if (x2 <= x1 || y2 <= y1) continue;
    candidates.push({ cls, score, box: [x1, y1, x2 - x1, y2 - y1] });
  }
  candidates.sort((a, b) => b.score - a.score);
  const kept: RawDetection[] = [];
  for (const c of candidates) {
    if (kept.some((k) => k.cls === c.cls && iou(k.box, c.box) > NMS_IOU)) continue;
    kept.push(c);
  }
  return kept;
}

async function detect(request: ObjectsChildRequest): Promise<ObjectsChildMessage> {
  const { id } = request;
  try {
    let loaded: Loaded;
    try {
      loaded = await load();
    } catch (err) {
      throw new Refused('engine', `the object model could not be loaded: ${describe(err)}`);
    }
    const { input, width, height, picture } = await prepare(request.path, loaded.side, request.maxPixels, request.picture === true);
    process.send!({ type: 'detecting', id, modelLoads } satisfies ObjectsChildMessage);
    let raw: Float32Array;
    try {
      const output = tf.tidy(() => loaded.model.execute(tf.tensor4d(input, [1, loaded.side, loaded.side, 3]), DETECTIONS) as tf.Tensor);
      try {
        raw = (await output.data()) as Float32Array;
      } finally {
        output.dispose();
      }
    } catch (err) {
      throw new Refused('engine', describe(err));
    }
    return { type: 'result', id, detections: decode(raw, width, height, request.minScore), ...(picture && { picture }) };
  } catch (err) {
    if (err instanceof Refused) return { type: 'refused', id, reason: err.reason, detail: err.message };
    return { type: 'refused', id, reason: 'engine', detail: describe(err) };
  }
}

// Jobs come one at a time (the parent queues them); the model is loaded with the first.
process.on('message', (request: ObjectsChildRequest) => {
  if (request.type !== 'detect') return;
  void detect(request).then((reply) => process.send!(reply));
});
// The parent gone (it crashed, or was killed): nothing is left to answer, so no orphan stays behind.
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' } satisfies ObjectsChildMessage);
