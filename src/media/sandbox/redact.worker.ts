/**
 * Sandbox entry (sandbox.ts) that blurs faces out of a thumbnail: the copy people outside the
 * family receive of a photo in which someone asked not to be shown (domain/people/redaction.ts).
 * Each face's region, with a margin, is reduced to a few blocks and then blurred, so nothing of
 * the face survives (a plain blur of a large face still shows its shape and colouring). The
 * result is WebP with no metadata; asked for it, also the ThumbHash of the blurred copy (the
 * placeholder non-members get). Erasable TypeScript importing only packages (see workerEntry).
 */
import sharp from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';

export interface RedactTask {
  /** The thumbnail to blur (the pipeline's WebP). */
  path: string;
  /** Where to write the blurred copy. */
  out: string;
  /** Faces to blur, relative to the picture (0..1). */
  boxes: { x: number; y: number; width: number; height: number }[];
  maxPixels: number;
  /** Also compute the ThumbHash of the blurred copy (done for the largest thumbnail only). */
  placeholder?: boolean;
}

export interface RedactResult {
  /** ThumbHash (base64) of the blurred copy, when asked for. */
  placeholder?: string;
}

export type RedactRefusal = 'pixels' | 'unreadable';

/** Each face's region grows by this much of its size on every side: hair, ears and chin go too. */
const MARGIN = 0.25;
/** The region is reduced to about this many blocks across before blurring. */
const BLOCKS = 4;

sharp.cache(false);

async function redact(task: RedactTask): Promise<RedactResult> {
  const open = () => sharp(task.path, { limitInputPixels: task.maxPixels, failOn: 'none', animated: false });
  const meta = await open().metadata();
  if ((meta.width ?? 0) * (meta.height ?? 0) > task.maxPixels) throw new Error('Input image exceeds pixel limit');
  const { data, info } = await open().rotate().removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const W = info.width;
  const H = info.height;
  const patches: sharp.OverlayOptions[] = [];
  for (const b of task.boxes) {
    const left = clamp(Math.floor((b.x - b.width * MARGIN) * W), 0, W - 1);
    const top = clamp(Math.floor((b.y - b.height * MARGIN) * H), 0, H - 1);
    const right = clamp(Math.ceil((b.x + b.width * (1 + MARGIN)) * W), left + 1, W);
    const bottom = clamp(Math.ceil((b.y + b.height * (1 + MARGIN)) * H), top + 1, H);
    const width = right - left;
    const height = bottom - top;
    const region = sharp(data, { raw: { width: W, height: H, channels: info.channels } }).extract({ left, top, width, height });
    const blocks = await region
      .resize(Math.max(1, Math.round((BLOCKS * width) / Math.max(width, height))), Math.max(1, Math.round((BLOCKS * height) / Math.max(width, height))), { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const smooth = await sharp(blocks.data, { raw: { width: blocks.info.width, height: blocks.info.height, channels: blocks.info.channels } })
      .resize(width, height, { fit: 'fill', kernel: 'cubic' })
      .blur(Math.max(1, Math.min(width, height) / 6))
      .png()
      .toBuffer();
    patches.push({ input: smooth, left, top });
  }
  // sharp writes no metadata unless asked: the copy carries nothing but pixels.
  const blurred = await sharp(data, { raw: { width: W, height: H, channels: info.channels } }).composite(patches).raw().toBuffer({ resolveWithObject: true });
  const pixels = { raw: { width: blurred.info.width, height: blurred.info.height, channels: blurred.info.channels } } as const;
  await sharp(blurred.data, pixels).webp({ quality: 82 }).toFile(task.out);
  if (!task.placeholder) return {};
  // As the pipelines make Asset.placeholder: RGBA at most 100x100, from the blurred pixels, never from the original.
  const small = await sharp(blurred.data, pixels).resize(100, 100, { fit: 'inside' }).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  return { placeholder: Buffer.from(rgbaToThumbHash(small.info.width, small.info.height, small.data)).toString('base64') };
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

export async function run(task: RedactTask) {
  try {
    return { type: 'result' as const, value: await redact(task) };
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    return { type: 'refused' as const, reason: (/pixel limit/i.test(message) ? 'pixels' : 'unreadable') satisfies RedactRefusal };
  }
}
