import { access, readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Worker as ThreadWorker } from 'node:worker_threads';
import sharp from 'sharp';
import Tesseract from 'tesseract.js';
import { getDocumentProxy, getResolvedPDFJS } from 'unpdf';
import { AiProviderError, AiUnavailableError } from '../ai.port.js';

/**
 * OCR with tesseract.js, entirely offline: the wasm core comes from tesseract.js-core and the
 * English model from @tesseract.js-data/eng, both in node_modules. Nothing is ever fetched.
 */

const require = createRequire(import.meta.url);

/** The LSTM-only integer model: what OEM.LSTM_ONLY runs, and a quarter of the size of `4.0.0`. */
const LANG_DIR = join(dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');

/** Height (px) of a line of text, as lineHeight measures it, that tesseract reads best: ~12 pt at 300 dpi. */
const TARGET_LINE_PX = 50;
const MIN_LINE_PX = 25;
const MAX_LINE_PX = 200;
const MAX_SCALE = 4;
/** Tesseract refuses images beyond 32767 px a side; far below that keeps memory sane. */
const MAX_SIDE_PX = 8000;
/** Light-to-dark crossings that make a row part of a line of text (a border makes one). */
const MIN_CROSSINGS = 2;
/** Width the page is analysed at to find its line height. */
const ANALYSIS_WIDTH = 1000;

export type OcrInput = { path: string } | { image: Buffer };

export interface OcrResult {
  text: string;
  /** Mean word confidence 0..1; null when nothing was read. */
  confidence: number | null;
}

interface LiveWorker {
  tesseract: Tesseract.Worker;
  /** Rejects if the worker thread dies under us (a crash would otherwise hang the job). */
  died: Promise<never>;
}

/** One English tesseract worker, created on first use and reused; jobs run one at a time. */
export class TesseractOcr {
  private worker: Promise<LiveWorker> | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly cacheDir: string;

  constructor(opts: { cacheDir?: string } = {}) {
    this.cacheDir = opts.cacheDir ?? join(tmpdir(), 'dmc-tesseract');
  }

  recognize(input: OcrInput, signal?: AbortSignal): Promise<OcrResult> {
    const job = this.queue.then(() => this.run(input, signal));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Stops the worker thread. A later `recognize` starts a new one. */
  async close(): Promise<void> {
    const pending = this.worker;
    this.worker = null;
    const live = await pending?.catch(() => null);
    await live?.tesseract.terminate();
  }

  private async run(input: OcrInput, signal?: AbortSignal): Promise<OcrResult> {
    signal?.throwIfAborted();
    const image = await prepare(input);
    signal?.throwIfAborted();
    const live = await this.start();
    signal?.throwIfAborted(); // starting takes a moment
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        // tesseract.js cannot cancel a job; the worker goes, and the next job starts a new one.
        void this.discard(live);
        reject(signal?.reason instanceof Error ? signal.reason : new Error('Aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    try {
      const { data } = await Promise.race([live.tesseract.recognize(image), aborted, live.died]);
      const text = normaliseOcrText(data.text);
      return { text, confidence: text === '' ? null : round2(clamp01(data.confidence / 100)) };
    } catch (err) {
      if (err instanceof Error && (signal?.aborted || err instanceof AiProviderError)) throw err;
      throw new AiProviderError(`Text could not be read from the image: ${describe(err)}`, false);
    } finally {
      if (onAbort) signal?.removeEventListener('abort', onAbort);
    }
  }

  private start(): Promise<LiveWorker> {
    this.worker ??= this.create().catch((err: unknown) => {
      this.worker = null; // the next job tries again
      throw err;
    });
    return this.worker;
  }

  private async create(): Promise<LiveWorker> {
    try {
      // tesseract.js never settles createWorker when the language data is missing; check first.
      await access(join(LANG_DIR, 'eng.traineddata.gz'));
    } catch {
      throw new AiUnavailableError('The English OCR model (@tesseract.js-data/eng) is not installed');
    }
    const tesseract = await Tesseract.createWorker('eng', Tesseract.OEM.LSTM_ONLY, {
      langPath: LANG_DIR,
      gzip: true,
      // Read straight from the package every time: the cache is a plain, non-atomic file write
      // that a second process could read half-written. cachePath is set anyway so that nothing
      // could ever land in the working directory (tesseract's default).
      cacheMethod: 'none',
      cachePath: this.cacheDir,
      // Without a handler a failed job is rethrown from the message listener: an uncaught error.
      errorHandler: () => undefined,
    });
    // Pages are scaled so a line is ~50 px, i.e. 12 pt type at 300 dpi; PNGs from sharp carry
    // no usable density and tesseract would warn and guess 70.
    await tesseract.setParameters({ user_defined_dpi: '300' });
    const thread = (tesseract as unknown as { worker?: ThreadWorker }).worker;
    const died = new Promise<never>((_, reject) => {
      thread?.once('error', (err) => reject(new AiProviderError(`The OCR engine crashed: ${err.message}`, true)));
      thread?.once('exit', () => reject(new AiProviderError('The OCR engine stopped unexpectedly', true)));
    });
    died.catch(() => undefined); // only interesting while a job waits on it
    return { tesseract, died };
  }

  private async discard(live: LiveWorker): Promise<void> {
    if (this.worker && (await this.worker.catch(() => null)) === live) this.worker = null;
    await live.tesseract.terminate();
  }
}

/**
 * Upright, grey, full-contrast, and scaled so lines of text are about TARGET_LINE_PX tall:
 * tesseract misreads text that is only a few pixels high, and slows down on huge letters.
 */
async function prepare(input: OcrInput): Promise<Buffer> {
  const source = 'path' in input ? input.path : input.image;
  try {
    const base = () =>
      sharp(source, { failOn: 'none' }).rotate().flatten({ background: '#ffffff' }).greyscale().normalise();
    const { data, info } = await base()
      .resize({ width: ANALYSIS_WIDTH, withoutEnlargement: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const meta = await sharp(source, { failOn: 'none' }).metadata();
    const { width, height } = meta.autoOrient;
    const lineAtFull = lineHeight(data, info.width, info.height) * (width / info.width);
    let scale = 1;
    if (lineAtFull > 0 && lineAtFull < MIN_LINE_PX) scale = Math.min(MAX_SCALE, TARGET_LINE_PX / lineAtFull);
    else if (lineAtFull > MAX_LINE_PX) scale = (TARGET_LINE_PX * 2) / lineAtFull;
    scale = Math.min(scale, MAX_SIDE_PX / Math.max(width, height));
    const pipeline = base();
    if (Math.abs(scale - 1) > 0.05) {
      pipeline.resize({ width: Math.max(1, Math.round(width * scale)), kernel: scale > 1 ? 'lanczos3' : 'mitchell' });
    }
    return await pipeline.png({ compressionLevel: 1 }).toBuffer();
  } catch (err) {
    throw new AiProviderError(`The image could not be opened for OCR: ${describe(err)}`, false);
  }
}

/**
 * Median height of the bands of rows that cross text: on a page, the height of a line; 0 when
 * there are none. A row crosses text when it goes from light to dark several times; counting
 * dark pixels instead would take the dark table around a photographed letter for one huge line.
 */
function lineHeight(grey: Uint8Array, width: number, height: number): number {
  const bands: number[] = [];
  let run = 0;
  for (let y = 0; y <= height; y++) {
    let crossings = 0;
    if (y < height) {
      for (let x = 1; x < width; x++) {
        if ((grey[y * width + x] ?? 255) < 128 && (grey[y * width + x - 1] ?? 255) >= 128) crossings++;
      }
    }
    if (crossings >= MIN_CROSSINGS) run++;
    else if (run > 0) {
      // Specks are not lines, and a band over half the picture is not a line either.
      if (run >= 2 && run <= height / 2) bands.push(run);
      run = 0;
    }
  }
  if (bands.length === 0) return 0;
  bands.sort((a, b) => a - b);
  return bands[Math.floor(bands.length / 2)] ?? 0;
}

/** Tesseract's layout as plain text: single spaces, trimmed lines, at most one blank line. */
function normaliseOcrText(raw: string): string {
  return raw
    .replace(/\r\n?/g, '\n')
    .replace(/[^\S\n]+/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

// ---- Scanned PDFs --------------------------------------------------------------------------

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

/**
 * The pictures on the first `maxPages` pages of a scanned PDF, as PNGs ready for OCR, in page
 * order. Works like unpdf's `extractImages`, which skips 1-bit images: those are what office
 * scanners write (CCITT, JBIG2), so they are unpacked here instead.
 */
export async function pdfPageImages(path: string, maxPages = 20): Promise<Buffer[]> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // pdf.js takes ownership of (detaches) the array it is given.
    pdf = await getDocumentProxy(new Uint8Array(await readFile(path)), { verbosity: 0 });
  } catch (err) {
    throw new AiProviderError(`The PDF could not be opened to read its pages: ${describe(err)}`, false);
  }
  try {
    const { OPS } = await getResolvedPDFJS();
    const pngs: Buffer[] = [];
    for (let n = 1; n <= Math.min(pdf.numPages, maxPages); n++) {
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
  } catch (err) {
    throw new AiProviderError(`The pages of the PDF could not be read: ${describe(err)}`, false);
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

const clamp01 = (n: number): number => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);
const round2 = (n: number): number => Math.round(n * 100) / 100;
/** tesseract.js rejects with bare strings. */
const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));
