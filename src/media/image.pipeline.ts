import sharp from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';
import { readExif } from './exif.js';
import { perceptualHash, PHASH_SIZE } from './perceptual-hash.js';
import { MediaError, type DerivedImage, type PipelineContext, type PipelineInput, type PipelineResult } from './pipeline.types.js';

/** Decompression bombs: a 100-megapixel limit covers every camera and scanner families use. */
export const MAX_INPUT_PIXELS = 100_000_000;
export const THUMBNAIL_SIZES = [1024, 256] as const;

/**
 * Photos: upright (EXIF orientation applied), two WebP thumbnails with every piece of metadata
 * stripped (no GPS can leak through a thumbnail), size, EXIF date and place, a ThumbHash
 * placeholder and a perceptual hash. The original is decoded once, to the largest thumbnail;
 * everything smaller is made from that.
 */
export async function processImage(input: PipelineInput, ctx: PipelineContext): Promise<PipelineResult> {
  await ctx.report('metadata', 5);
  const exif = await readExif(input.path);
  let upright: { data: Buffer; info: sharp.OutputInfo };
  let width: number;
  let height: number;
  try {
    const meta = await sharp(input.path, { limitInputPixels: MAX_INPUT_PIXELS }).metadata();
    // Orientations 5–8 are stored sideways: the upright picture swaps width and height.
    const sideways = (meta.orientation ?? 1) >= 5;
    width = (sideways ? meta.height : meta.width) ?? 0;
    height = (sideways ? meta.width : meta.height) ?? 0;
    await ctx.report('decode', 15);
    upright = await sharp(input.path, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error', animated: false })
      .rotate()
      .resize(THUMBNAIL_SIZES[0], THUMBNAIL_SIZES[0], { fit: 'inside', withoutEnlargement: true })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new MediaError(imageProblem(err));
  }
  const raw = { raw: { width: upright.info.width, height: upright.info.height, channels: upright.info.channels } } as const;

  await ctx.report('thumbnails', 40);
  const thumbnails: DerivedImage[] = [];
  for (const size of THUMBNAIL_SIZES) {
    const { data, info } = await sharp(upright.data, raw)
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    const name = String(size);
    thumbnails.push({ name, width: info.width, height: info.height, mimeType: 'image/webp', storageKey: await ctx.derivatives(name, data, 'image/webp') });
  }

  await ctx.report('fingerprints', 80);
  const [placeholder, phash] = await Promise.all([thumbHashOf(upright.data, raw), pHashOf(upright.data, raw)]);
  await ctx.report('fingerprints', 95);
  return {
    width,
    height,
    dateTaken: exif.dateTaken,
    location: exif.location,
    thumbnails,
    placeholder,
    perceptualHash: phash,
    metadata: exif.camera ? { camera: exif.camera } : {},
  };
}

type RawInput = { raw: { width: number; height: number; channels: 1 | 2 | 3 | 4 } };

/** ThumbHash wants RGBA at most 100×100. */
async function thumbHashOf(pixels: Buffer, raw: RawInput): Promise<string> {
  const { data, info } = await sharp(pixels, raw).resize(100, 100, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64');
}

async function pHashOf(pixels: Buffer, raw: RawInput): Promise<string> {
  const grey = await sharp(pixels, raw).greyscale().resize(PHASH_SIZE, PHASH_SIZE, { fit: 'fill' }).raw().toBuffer();
  return perceptualHash(grey);
}

function imageProblem(err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  if (/pixel limit/i.test(message)) return `The picture is larger than ${MAX_INPUT_PIXELS / 1_000_000} megapixels and cannot be processed`;
  if (/heif|heic|compression format/i.test(message)) return 'This HEIC/HEIF photo uses a format this server cannot decode; a JPEG copy can be added instead';
  return 'The picture could not be read; the file may be damaged or incomplete';
}
