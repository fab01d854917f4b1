/**
 * The OCR engine's own process (ocr.ts forks it): tesseract.js and the picture decoding before
 * it run here, so a page built to exhaust them ends this process, never the API or its jobs. The
 * parent starts it with a V8 heap cap and a cap on WebAssembly memory (tesseract's wasm core),
 * kills it at its time limit or when its job is stopped, and starts a fresh one for the next job.
 *
 * Entirely offline: the wasm core comes from tesseract.js-core and the English model from
 * @tesseract.js-data/eng, both in node_modules. Erasable TypeScript importing only packages (it
 * runs as stripped .ts under tsx/vitest; see workerEntry in media/sandbox/sandbox.ts).
 *
 * Messages in: `{ type: 'recognize', id, input: { path } | { image }, maxPixels }`. Out: `{ type:
 * 'ready' }` once its imports are loaded (a death before that says nothing about a file), then per job `{ type: 'recognizing', id }`, and `{ type: 'result', id,
 * text, confidence }` or `{ type: 'refused', id, reason, detail }` (a picture it understood to be
 * unreadable or too large).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import Tesseract from 'tesseract.js';

export type OcrChildInput = { path: string } | { image: Uint8Array };
export type OcrChildRequest = { type: 'recognize'; id: number; input: OcrChildInput; maxPixels: number };
export type OcrRefusal = 'pixels' | 'unreadable' | 'engine';
export type OcrChildMessage =
  | { type: 'ready' }
  | { type: 'recognizing'; id: number }
  | { type: 'result'; id: number; text: string; confidence: number }
  | { type: 'refused'; id: number; reason: OcrRefusal; detail: string };

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

class Refused extends Error {
  reason: OcrRefusal;
  constructor(reason: OcrRefusal, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

const describe = (err: unknown): string => (err instanceof Error ? err.message : String(err));

let engine: Promise<Tesseract.Worker> | null = null;

/** Where tesseract may keep a cache (it is told to keep none): the parent passes it as the one argument. */
const cacheDir = process.argv[2] ?? dirname(LANG_DIR);

function start(): Promise<Tesseract.Worker> {
  engine ??= (async () => {
    const worker = await Tesseract.createWorker('eng', Tesseract.OEM.LSTM_ONLY, {
      langPath: LANG_DIR,
      gzip: true,
      // Read straight from the package every time: the cache is a plain, non-atomic file write
      // that a second process could read half-written. cachePath is set anyway so that nothing
      // could ever land in the working directory (tesseract's default).
      cacheMethod: 'none',
      cachePath: cacheDir,
      // Without a handler a failed job is rethrown from the message listener: an uncaught error.
      errorHandler: () => undefined,
    });
    // Pages are scaled so a line is ~50 px, i.e. 12 pt type at 300 dpi; PNGs from sharp carry
    // no usable density and tesseract would warn and guess 70.
    await worker.setParameters({ user_defined_dpi: '300' });
    return worker;
  })();
  return engine;
}

/**
 * Upright, grey, full-contrast, and scaled so lines of text are about TARGET_LINE_PX tall:
 * tesseract misreads text that is only a few pixels high, and slows down on huge letters. A
 * picture whose header claims more than maxPixels is refused before a pixel is decoded.
 */
async function prepare(input: OcrChildInput, maxPixels: number): Promise<Buffer> {
  const source = 'path' in input ? input.path : Buffer.from(input.image.buffer, input.image.byteOffset, input.image.byteLength);
  try {
    const open = () => sharp(source, { failOn: 'none', limitInputPixels: maxPixels });
    const meta = await open().metadata();
    if ((meta.width ?? 0) * (meta.height ?? 0) > maxPixels) throw new Refused('pixels', 'Input image exceeds pixel limit');
    const base = () => open().rotate().flatten({ background: '#ffffff' }).greyscale().normalise();
    const { data, info } = await base().resize({ width: ANALYSIS_WIDTH, withoutEnlargement: true }).raw().toBuffer({ resolveWithObject: true });
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
    if (err instanceof Refused) throw err;
    throw new Refused(/pixel limit/i.test(describe(err)) ? 'pixels' : 'unreadable', describe(err));
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

async function recognize(request: OcrChildRequest): Promise<OcrChildMessage> {
  const { id } = request;
  try {
    const image = await prepare(request.input, request.maxPixels);
    const worker = await start();
    process.send!({ type: 'recognizing', id } satisfies OcrChildMessage);
    let data: Tesseract.Page;
    try {
      ({ data } = await worker.recognize(image));
    } catch (err) {
      throw new Refused('engine', describe(err));
    }
    return { type: 'result', id, text: data.text, confidence: data.confidence };
  } catch (err) {
    if (err instanceof Refused) return { type: 'refused', id, reason: err.reason, detail: err.message };
    return { type: 'refused', id, reason: 'engine', detail: describe(err) };
  }
}

// Jobs come one at a time (the parent queues them); the engine is loaded with the first.
process.on('message', (request: OcrChildRequest) => {
  if (request.type !== 'recognize') return;
  void recognize(request).then((reply) => process.send!(reply));
});
// The parent gone (it crashed, or was killed): nothing is left to answer, so no orphan stays behind.
process.on('disconnect', () => process.exit(0));
process.send!({ type: 'ready' } satisfies OcrChildMessage);
