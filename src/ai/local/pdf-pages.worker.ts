/**
 * Sandbox entry (media/sandbox/sandbox.ts) that takes the pictures of the first pages of a
 * scanned PDF, as PNGs ready for OCR: pdf.js and the unpacking of its images run under the
 * sandbox's heap and time limits, and only the PNGs come back. Works like unpdf's
 * `extractImages`, which skips 1-bit images: those are what office scanners write (CCITT, JBIG2),
 * so they are unpacked here instead. Erasable TypeScript importing only packages (see workerEntry).
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { getDocumentProxy, getResolvedPDFJS } from 'unpdf';

export interface PdfPagesTask {
  path: string;
  maxPages: number;
}

/** Refusal codes ocr.ts turns into messages for people. */
export type PdfPagesRefusal = 'unopenable' | 'unreadable';

/** pdf.js ImageKind: 1-bit grey (packed, rows padded to bytes), RGB, RGBA. */
const GRAYSCALE_1BPP = 1;
/** Logos, rules and bullets are not pages. */
const MIN_IMAGE_SIDE = 32;

interface PdfImage {
  data?: Uint8Array | Uint8ClampedArray;
  width?: number;
  height?: number;
  kind?: number;
}

sharp.cache(false);

async function pageImages(task: PdfPagesTask): Promise<Uint8Array[] | PdfPagesRefusal> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // pdf.js takes ownership of (detaches) the array it is given.
    pdf = await getDocumentProxy(new Uint8Array(await readFile(task.path)), { verbosity: 0 });
  } catch {
    return 'unopenable';
  }
  try {
    const { OPS } = await getResolvedPDFJS();
    const pngs: Uint8Array[] = [];
    for (let n = 1; n <= Math.min(pdf.numPages, task.maxPages); n++) {
      const page = await pdf.getPage(n);
      const ops = await page.getOperatorList();
      const seen = new Set<string>();
      for (let i = 0; i < ops.fnArray.length; i++) {
        const fn = ops.fnArray[i];
        const arg: unknown = (ops.argsArray[i] as unknown[] | undefined)?.[0];
        let image: PdfImage | null = null;
        if (fn === OPS.paintImageXObject && typeof arg === 'string' && !seen.has(arg)) {
          seen.add(arg);
          const objs = arg.startsWith('g_') ? page.commonObjs : page.objs;
          image = await new Promise<PdfImage | null>((resolve) => objs.get(arg, resolve));
        } else if (fn === OPS.paintInlineImageXObject && typeof arg === 'object' && arg !== null) {
          image = arg as PdfImage;
        }
        const png = image ? await toPng(image) : null;
        if (png) pngs.push(png);
      }
      page.cleanup();
    }
    return pngs;
  } catch {
    return 'unreadable';
  } finally {
    await pdf.loadingTask.destroy();
  }
}

async function toPng(image: PdfImage): Promise<Buffer | null> {
  const { data, width, height, kind } = image;
  if (!data || !width || !height || width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE) return null;
  let pixels: Uint8Array = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  let channels = pixels.length / (width * height);
  if (kind === GRAYSCALE_1BPP) {
    pixels = unpackBits(pixels, width, height);
    channels = 1;
  }
  if (channels !== 1 && channels !== 3 && channels !== 4) return null;
  return sharp(pixels, { raw: { width, height, channels } }).png({ compressionLevel: 1 }).toBuffer();
}

/** 1 bit per pixel, most significant bit first, each row starting on a byte; 1 is white. */
function unpackBits(packed: Uint8Array, width: number, height: number): Uint8Array {
  const rowBytes = (width + 7) >> 3;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const byte = packed[y * rowBytes + (x >> 3)] ?? 0;
      out[y * width + x] = (byte >> (7 - (x & 7))) & 1 ? 255 : 0;
    }
  }
  return out;
}

export async function run(task: PdfPagesTask) {
  const outcome = await pageImages(task);
  return typeof outcome === 'string' ? { type: 'refused' as const, reason: outcome } : { type: 'result' as const, value: outcome };
}
