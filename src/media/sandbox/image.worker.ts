/**
 * Sandbox entry that reads one untrusted picture (sandbox.ts): its EXIF (exifr), its
 * header, the upright 1024 px copy, the WebP thumbnails and the small inputs of the placeholder
 * and perceptual hash. Only those small results cross back to the job; the decoded original never
 * does. It sends no progress: a photo decodes in well under a second, and each report is an
 * event to every subscriber. Erasable TypeScript importing only packages (see workerEntry).
 *
 * libvips keeps pixels outside the V8 heap: the pixel limit (`maxPixels`, checked from the header
 * before decoding) bounds them, and the sandbox's kernel cap bounds whatever it misses; sharp's
 * cache is off, its threads are VIPS_CONCURRENCY (set by the worker from its job concurrency).
 */
import exifr from 'exifr';
import sharp from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';

export interface ImageTask {
  path: string;
  /** exifr's options, and the tags to send back (media/exif.ts). */
  exif: { options: Record<string, unknown>; keys: readonly string[] };
  /** Larger pictures are refused from their header, before a pixel is decoded. */
  maxPixels: number;
  /** Longest side of each thumbnail, largest first: the first is decoded from the original, the rest from it. */
  sizes: readonly number[];
  /** Side of the greyscale square the perceptual hash is computed on. */
  hashSize: number;
}

export interface DecodedImage {
  /** The EXIF tags asked for that the file has; null when it has no readable EXIF. */
  exif: Record<string, unknown> | null;
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

// Nothing decoded here is seen twice.
sharp.cache(false);

function refusal(err: unknown): ImageRefusal {
  const message = err instanceof Error ? err.message : '';
  if (/pixel limit/i.test(message)) return 'pixels';
  if (/heif|heic|compression format/i.test(message)) return 'heif';
  return 'unreadable';
}

/** Broken EXIF is normal (scans, screenshots, edited copies): no tags, not a refusal. */
async function readTags(task: ImageTask): Promise<Record<string, unknown> | null> {
  const tags = (await exifr.parse(task.path, task.exif.options).catch(() => undefined)) as Record<string, unknown> | undefined;
  if (!tags) return null;
  return Object.fromEntries(task.exif.keys.filter((k) => tags[k] !== undefined).map((k) => [k, tags[k]]));
}

async function decode(task: ImageTask): Promise<DecodedImage> {
  const exif = await readTags(task);
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
  return { exif, width, height, thumbnails, placeholder, grey };
}

export async function run(task: ImageTask) {
  try {
    return { type: 'result' as const, value: await decode(task) };
  } catch (err) {
    return { type: 'refused' as const, reason: refusal(err) };
  }
}
