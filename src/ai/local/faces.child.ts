/**
 * The face engine's own process (faces.ts forks it): @vladmandic/face-api on @tensorflow/tfjs
 * with the WebAssembly backend, and the decoding of the picture before it, run here, so a picture
 * built to exhaust them ends this process, never the API or its jobs. The models are loaded once,
 * with the first picture, and serve every picture after it; the parent kills the process at its
 * time limit or when its job stops, and starts a fresh one for the next job.
 *
 * Entirely offline: the weights are read from face-api's own `model/` folder and the wasm binaries
 * from the backend's `dist/` folder (Node's fetch has no file://, so nothing is fetched). Erasable
 * TypeScript importing only packages (it runs as stripped .ts under tsx/vitest; see workerEntry in
 * media/sandbox/sandbox.ts).
 *
 * Models: SSD-MobileNet v1 finds faces, the 68-point landmark net aligns each one, and the
 * ResNet-34-like recognition net turns it into a 128-number descriptor (faces of one person lie
 * close together: euclidean distance).
 *
 * Messages in: `{ type: 'detect', id, path, maxPixels, minScore, cropSide }`. Out: `{ type: 'ready' }`
 * once its imports are loaded (a death before that says nothing about a picture), then per job
 * `{ type: 'detecting', id }` and `{ type: 'result', id, width, height, faces }` or `{ type:
 * 'refused', id, reason, detail }`.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';

export type FacesChildRequest = {
  type: 'detect';
  id: number;
  /** The picture to look at: the pipeline's upright 1024 px thumbnail. */
  path: string;
  maxPixels: number;
  /** Detections below this score (0..1) are not faces. */
  minScore: number;
  /** Side of the square face crops, px. */
  cropSide: number;
};
export interface ChildFace {
  /** Relative to the upright picture, 0..1. */
  box: { x: number; y: number; width: number; height: number };
  score: number;
  descriptor: Float32Array;
  /** A square WebP crop around the face, without metadata. */
  crop: Uint8Array;
}
export type FacesRefusal = 'pixels' | 'unreadable' | 'engine';
export type FacesChildMessage =
  | { type: 'ready' }
  | { type: 'detecting'; id: number }
  | { type: 'result'; id: number; width: number; height: number; faces: ChildFace[] }
  | { type: 'refused'; id: number; reason: FacesRefusal; detail: string };

const require = createRequire(import.meta.url);
const MODEL_DIR = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
const WASM_DIR = `${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'))}/`;
/** A face this many px wide or less (in the 1024 px picture) is too small to tell anyone by. */
const MIN_FACE_PX = 24;
/** Crops show the face with this much of its size around it: hair and chin, as people know a face. */
const CROP_MARGIN = 0.3;

class Refused extends Error {
  reason: FacesRefusal;
  constructor(reason: FacesRefusal, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

// face-api's bundle is CommonJS and brings its tfjs through require: load it the same way.
type FaceApi = typeof import('@vladmandic/face-api');
type Tf = typeof import('@tensorflow/tfjs');

let engine: Promise<{ faceapi: FaceApi; tf: Tf }> | null = null;

function start(): Promise<{ faceapi: FaceApi; tf: Tf }> {
  engine ??= (async () => {
    const tf = require('@tensorflow/tfjs') as Tf;
    const wasm = require('@tensorflow/tfjs-backend-wasm') as { setWasmPaths(prefix: string, usePlatformFetch?: boolean): void };
    const faceapi = require('@vladmandic/face-api/dist/face-api.node-wasm.js') as FaceApi;
    wasm.setWasmPaths(WASM_DIR);
    if (!(await tf.setBackend('wasm'))) throw new Error('the tfjs WebAssembly backend did not start');
    await tf.ready();
    await faceapi.nets.ssdMobilenetv1.loadFromDisk(MODEL_DIR);
    await faceapi.nets.faceLandmark68Net.loadFromDisk(MODEL_DIR);
    await faceapi.nets.faceRecognitionNet.loadFromDisk(MODEL_DIR);
    return { faceapi, tf };
  })();
  return engine;
}

/** The picture, upright, as RGB pixels: what the models and the crops are made from. */
async function decode(path: string, maxPixels: number): Promise<{ data: Buffer; width: number; height: number }> {
  try {
    const meta = await sharp(path, { failOn: 'none', limitInputPixels: maxPixels }).metadata();
    if ((meta.width ?? 0) * (meta.height ?? 0) > maxPixels) throw new Refused('pixels', 'Input image exceeds pixel limit');
    const { data, info } = await sharp(path, { failOn: 'none', limitInputPixels: maxPixels, animated: false })
      .rotate()
      .flatten({ background: '#ffffff' })
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (err) {
    if (err instanceof Refused) throw err;
    throw new Refused(/pixel limit/i.test(describe(err)) ? 'pixels' : 'unreadable', describe(err));
  }
}

async function crop(picture: { data: Buffer; width: number; height: number }, box: ChildFace['box'], side: number): Promise<Uint8Array> {
  const { width, height } = picture;
  const size = Math.max(box.width * width, box.height * height) * (1 + 2 * CROP_MARGIN);
  const cx = (box.x + box.width / 2) * width;
  const cy = (box.y + box.height / 2) * height;
  const s = Math.max(1, Math.min(Math.round(size), width, height));
  const left = Math.min(Math.max(0, Math.round(cx - s / 2)), width - s);
  const top = Math.min(Math.max(0, Math.round(cy - s / 2)), height - s);
  // sharp writes no metadata unless asked: the crop carries nothing but pixels.
  return sharp(picture.data, { raw: { width, height, channels: 3 } })
    .extract({ left, top, width: s, height: s })
    .resize(side, side)
    .webp({ quality: 82 })
    .toBuffer();
}

async function detect(request: FacesChildRequest): Promise<FacesChildMessage> {
  const { id } = request;
  try {
    const picture = await decode(request.path, request.maxPixels);
    const { faceapi, tf } = await start();
    process.send!({ type: 'detecting', id } satisfies FacesChildMessage);
    const tensor = tf.tensor3d(new Uint8Array(picture.data.buffer, picture.data.byteOffset, picture.data.length), [picture.height, picture.width, 3], 'int32');
    let found;
    try {
      found = await faceapi
        .detectAllFaces(tensor, new faceapi.SsdMobilenetv1Options({ minConfidence: request.minScore, maxResults: 100 }))
        .withFaceLandmarks()
        .withFaceDescriptors();
    } catch (err) {
      throw new Refused('engine', describe(err));
    } finally {
      tensor.dispose();
    }
    const faces: ChildFace[] = [];
    for (const f of found) {
      const b = f.detection.box;
      const x = clamp01(b.x / picture.width);
      const y = clamp01(b.y / picture.height);
      const box = { x, y, width: clamp01((b.x + b.width) / picture.width) - x, height: clamp01((b.y + b.height) / picture.height) - y };
      if (box.width * picture.width <= MIN_FACE_PX || box.height * picture.height <= MIN_FACE_PX) continue;
      faces.push({ box, score: f.detection.score, descriptor: f.descriptor, crop: await crop(picture, box, request.cropSide) });
    }
    return { type: 'result', id, width: picture.width, height: picture.height, faces };
  } catch (err) {
    if (err instanceof Refused) return { type: 'refused', id, reason: err.reason, detail: err.message };
    return { type: 'refused', id, reason: 'engine', detail: describe(err) };
  }
}

const clamp01 = (n: number): number => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);

sharp.cache(false);
// Jobs come one at a time (the parent queues them); the models are loaded with the first.
process.on('message', (request: FacesChildRequest) => {
  if (request.type !== 'detect') return;
  void detect(request).then((reply) => process.send!(reply));
});
// The parent gone (it crashed, or was killed): nothing is left to answer, so no orphan stays behind.
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' } satisfies FacesChildMessage);
