/**
 * Worker-thread entry that decodes one untrusted picture inside the sandbox (sandbox.ts): its
 * header, the upright 1024 px copy, the WebP thumbnails and the small inputs of the placeholder
 * and perceptual hash. Only those small results cross back to the job; the decoded original never
 * does. It sends no progress: a photo decodes in well under a second, and each report is an
 * event to every subscriber. Erasable TypeScript importing only packages (see workerEntry).
 *
 * libvips keeps pixels outside the V8 heap, so the thread's heap limit does not bound them: the
 * pixel limit (`maxPixels`, checked from the header before decoding) does, with sharp's cache off
 * and its thread pool set once by the process that loaded sharp first (worker/worker.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';

export interface ImageTask {
  path: string;
  /** Larger pictures are refused from their header, before a pixel is decoded. */
  maxPixels: number;
  /** Longest side of each thumbnail, largest first: the first is decoded from the original, the rest from it. */
  sizes: readonly number[];
  /** Side of the greyscale square the perceptual hash is computed on. */
  hashSize: number;
}

export interface DecodedImage {
  /** Upright size of the original (EXIF orientation applied). */
  width: number;
  height: number;
  thumbnails: { name: string; width: number; height: number; data: Uint8Array }[];
  /** ThumbHash, base64. */
  placeholder: string;
  /** hashSize² luminance bytes, row by row. */
  grey: Uint8Array;
}

/** Refusal codes the pipeline turns into messages for people. */
export type ImageRefusal = 'pixels' | 'heif' | 'unreadable';

const port = parentPort!;
// Imports are loaded: from here on, a death of this thread is the file's doing.
port.postMessage({ type: 'started' });
// Process-wide in libvips, and harmless to repeat: nothing decoded here is seen twice.
sharp.cache(false);

function refusal(err: unknown): ImageRefusal {
  const message = err instanceof Error ? err.message : '';
  if (/pixel limit/i.test(message)) return 'pixels';
  if (/heif|heic|compression format/i.test(message)) return 'heif';
  return 'unreadable';
}

async function decode(task: ImageTask): Promise<DecodedImage> {
  const meta = await sharp(task.path, { limitInputPixels: task.maxPixels }).metadata();
  // Checked here too, not only by libvips while decoding: a header's claim alone refuses the file.
  if ((meta.width ?? 0) * (meta.height ?? 0) > task.maxPixels) throw new Error('Input image exceeds pixel limit');
  // Orientations 5–8 are stored sideways: the upright picture swaps width and height.
  const sideways = (meta.orientation ?? 1) >= 5;
  const width = (sideways ? meta.height : meta.width) ?? 0;
  const height = (sideways ? meta.width : meta.height) ?? 0;
  const largest = task.sizes[0]!;
  const upright = await sharp(task.path, { limitInputPixels: task.maxPixels, failOn: 'error', animated: false })
    .rotate()
    .resize(largest, largest, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: upright.info.width, height: upright.info.height, channels: upright.info.channels } } as const;
  const thumbnails: DecodedImage['thumbnails'] = [];
  for (const size of task.sizes) {
    const { data, info } = await sharp(upright.data, raw).resize(size, size, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer({ resolveWithObject: true });
    thumbnails.push({ name: String(size), width: info.width, height: info.height, data });
  }
  // ThumbHash wants RGBA at most 100×100.
  const small = await sharp(upright.data, raw).resize(100, 100, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const placeholder = Buffer.from(rgbaToThumbHash(small.info.width, small.info.height, small.data)).toString('base64');
  const grey = await sharp(upright.data, raw).greyscale().resize(task.hashSize, task.hashSize, { fit: 'fill' }).raw().toBuffer();
  return { width, height, thumbnails, placeholder, grey };
}

const task = workerData as ImageTask;
let decoded: DecodedImage | undefined;
try {
  decoded = await decode(task);
} catch (err) {
  port.postMessage({ type: 'refused', reason: refusal(err) });
}
if (decoded) port.postMessage({ type: 'result', value: decoded });
