import { EXIF_KEYS, EXIF_OPTIONS, exifFacts } from './exif.js';
import { perceptualHash, PHASH_SIZE } from './perceptual-hash.js';
import { MediaError, type DerivedImage, type PipelineContext, type PipelineInput, type PipelineResult } from './pipeline.types.js';
import type { DecodedImage, ImageRefusal, ImageTask } from './sandbox/image.worker.js';
import { DEFAULT_PARSE_LIMITS } from './sandbox/limits.js';
import { judgeSandboxError, workerEntry } from './sandbox/sandbox.js';
import { runSandboxedStep } from './sandbox/sandboxed-step.js';

/** Decompression bombs: a 100-megapixel limit covers every camera and scanner families use. */
export const MAX_INPUT_PIXELS = 100_000_000;
export const THUMBNAIL_SIZES = [1024, 256] as const;

const IMAGE_WORKER = workerEntry(import.meta.url, './sandbox/image.worker');

/**
 * Photos: upright (EXIF orientation applied), two WebP thumbnails with every piece of metadata
 * stripped (no GPS can leak through a thumbnail), size, EXIF date and place, a ThumbHash
 * placeholder and a perceptual hash. The picture's EXIF is read and its pixels decoded in the sandbox (media/sandbox,
 * image.worker.ts), once, to the largest thumbnail; everything smaller is made from that. A
 * picture over the pixel limit is refused from its header; one that makes the decoder exceed the
 * sandbox's heap or time, or kills it, fails at once with a reason.
 */
export async function processImage(input: PipelineInput, ctx: PipelineContext): Promise<PipelineResult> {
  await ctx.report('decode', 5);
  const task: ImageTask = { path: input.path, exif: { options: EXIF_OPTIONS, keys: EXIF_KEYS }, maxPixels: MAX_INPUT_PIXELS, sizes: THUMBNAIL_SIZES, hashSize: PHASH_SIZE };
  let decoded: DecodedImage;
  try {
    decoded = await runSandboxedStep<DecodedImage>({ entry: IMAGE_WORKER, data: task, stage: 'decode', ctx });
  } catch (err) {
    throw imageProblem(err, ctx);
  }

  const exif = exifFacts(decoded.exif);
  await ctx.report('thumbnails', 40);
  const thumbnails: DerivedImage[] = [];
  for (const t of decoded.thumbnails) {
    thumbnails.push({ name: t.name, width: t.width, height: t.height, mimeType: 'image/webp', storageKey: await ctx.derivatives(t.name, Buffer.from(t.data), 'image/webp') });
  }
  await ctx.report('fingerprints', 80);
  const phash = perceptualHash(decoded.grey);
  await ctx.report('fingerprints', 95);
  return {
    width: decoded.width,
    height: decoded.height,
    dateTaken: exif.dateTaken,
    location: exif.location,
    thumbnails,
    placeholder: decoded.placeholder,
    perceptualHash: phash,
    metadata: exif.camera ? { camera: exif.camera } : {},
  };
}

const REFUSALS: Record<ImageRefusal, string> = {
  pixels: `The picture is larger than ${MAX_INPUT_PIXELS / 1_000_000} megapixels and cannot be processed`,
  heif: 'This HEIC/HEIF photo uses a format this server cannot decode; a JPEG copy can be added instead',
  unreadable: 'The picture could not be read; the file may be damaged or incomplete',
};

/** What people read when the decoder refused or was ended; anything that says nothing about the file stays transient. */
function imageProblem(err: unknown, ctx: PipelineContext): unknown {
  const limits = (ctx.limits ?? DEFAULT_PARSE_LIMITS).sandbox;
  const final = (message: string) => new MediaError(message);
  return judgeSandboxError(err, {
    refused: (reason) => final(REFUSALS[reason as ImageRefusal] ?? REFUSALS.unreadable),
    memory: () => final(`The picture is too large or complex to decode: it needs more than the ${limits.memoryMb} MB of memory one file may use`),
    time: () => final(`The picture is too large or complex to decode: it takes longer than the ${Math.round(limits.timeoutMs / 1000)} seconds one file may take`),
    crashed: () => final('The picture could not be read: the decoder stopped on it, and would again'),
  });
}
