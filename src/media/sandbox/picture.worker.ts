/**
 * Sandbox entry for the AI step's own reads of a picture (sandbox.ts), the sibling of
 * image.worker.ts: the pixel statistics image tags are measured on, and the metadata-free copy a
 * vision model is shown. Only small results cross back (at most a 512 px raw copy, or nothing:
 * the copy is written to a file). Erasable TypeScript importing only packages (see workerEntry).
 *
 * As in image.worker.ts, the pixel limit checked from the header bounds what libvips decodes
 * outside the V8 heap; the sandbox's heap, kernel and time limits bound the rest.
 */
import sharp from 'sharp';

export type PictureTask =
  | { op: 'stats'; path: string; maxPixels: number; side: number }
  | { op: 'copy'; path: string; maxPixels: number; side: number; out: string; quality: number };

export interface PictureStats {
  /** Upright size of the picture (EXIF orientation applied). */
  width: number;
  height: number;
  /** Upright, flattened on white, sRGB, at most side × side. */
  raw: { data: Uint8Array; width: number; height: number; channels: number };
}

/** Refusal codes the caller turns into messages for people. */
export type PictureRefusal = 'pixels' | 'unreadable';

sharp.cache(false);

async function checkedSize(task: PictureTask): Promise<{ width: number; height: number }> {
  const meta = await sharp(task.path, { limitInputPixels: task.maxPixels, failOn: 'none' }).metadata();
  // The header's claim alone refuses the file, before a pixel is decoded.
  if ((meta.width ?? 0) * (meta.height ?? 0) > task.maxPixels) throw new Error('Input image exceeds pixel limit');
  return meta.autoOrient;
}

async function read(task: PictureTask): Promise<PictureStats | Record<string, never>> {
  const size = await checkedSize(task);
  const open = () => sharp(task.path, { limitInputPixels: task.maxPixels, failOn: 'none', animated: false }).rotate();
  if (task.op === 'copy') {
    // sharp writes no metadata unless asked: no GPS or camera leaves with the copy.
    await open().resize(task.side, task.side, { fit: 'inside', withoutEnlargement: true }).webp({ quality: task.quality }).toFile(task.out);
    return {};
  }
  const { data, info } = await open()
    .flatten({ background: '#ffffff' })
    .resize(task.side, task.side, { fit: 'inside', withoutEnlargement: true })
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: size.width, height: size.height, raw: { data, width: info.width, height: info.height, channels: info.channels } };
}

export async function run(task: PictureTask) {
  try {
    return { type: 'result' as const, value: await read(task) };
  } catch (err) {
    const message = err instanceof Error ? err.message : '';
    return { type: 'refused' as const, reason: (/pixel limit/i.test(message) ? 'pixels' : 'unreadable') satisfies PictureRefusal };
  }
}
