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
 * Before reading, the picture is straightened and cleaned (page-image.ts prepareScan: upright,
 * grey, cropped to the paper, light evened out, binarised, deskewed).
 *
 * Messages in: `{ type: 'recognize', id, input: { path } | { image }, maxPixels }`. Out: `{ type:
 * 'ready' }` once its imports are loaded (a death before that says nothing about a file), then per job `{ type: 'recognizing', id }`, and `{ type: 'result', id,
 * paragraphs }` (the words read, with their confidence) or `{ type: 'refused', id, reason, detail }` (a picture it understood to be
 * unreadable or too large).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import Tesseract from 'tesseract.js';

export type OcrChildWord = { text: string; confidence: number };
export type OcrChildInput = { path: string } | { image: Uint8Array };
export type OcrChildRequest = { type: 'recognize'; id: number; input: OcrChildInput; maxPixels: number };
export type OcrRefusal = 'pixels' | 'unreadable' | 'engine';
export type OcrChildMessage =
  | { type: 'ready' }
  | { type: 'recognizing'; id: number }
  /** Paragraphs of lines of words, each with tesseract's confidence 0..100: the parent decides what is text (ocr-words.ts). */
  | { type: 'result'; id: number; paragraphs: OcrChildWord[][][] }
  | { type: 'refused'; id: number; reason: OcrRefusal; detail: string };

const require = createRequire(import.meta.url);

/** The LSTM-only integer model: what OEM.LSTM_ONLY runs, and a quarter of the size of `4.0.0`. */
const LANG_DIR = join(dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int');

class Refused extends Error {
  reason: OcrRefusal;
  constructor(reason: OcrRefusal, detail: string) {
    super(detail);
    this.reason = reason;
  }
}

/**
 * The page arithmetic (page-image.ts), loaded beside this file on first use: stripped .ts under
 * tsx and vitest, .js once built. Imported by path because a child started as plain TypeScript
 * cannot resolve a relative `.js` import to its `.ts` source.
 */
type PageImage = typeof import('./page-image.js');
let pageImage: Promise<PageImage> | null = null;
const loadPageImage = (): Promise<PageImage> =>
  (pageImage ??= import(new URL(`./page-image${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url).href) as Promise<PageImage>);

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
    // Pages are scaled so a line of text is ~28 px from ascender to descender (ordinary type at
    // ~200 dpi); PNGs from sharp carry no usable density and tesseract would warn and guess 70.
    await worker.setParameters({ user_defined_dpi: '300' });
    return worker;
  })();
  return engine;
}

/** The page as tesseract reads it best (page-image.ts prepareScan), null for a blank one, or why it cannot be read. */
async function prepare(input: OcrChildInput, maxPixels: number): Promise<Buffer | null> {
  const source = 'path' in input ? input.path : Buffer.from(input.image.buffer, input.image.byteOffset, input.image.byteLength);
  try {
    const meta = await sharp(source, { failOn: 'none', limitInputPixels: maxPixels }).metadata();
    if ((meta.width ?? 0) * (meta.height ?? 0) > maxPixels) throw new Refused('pixels', 'Input image exceeds pixel limit');
    const scan = await (await loadPageImage()).prepareScan(source, maxPixels);
    return scan.blank ? null : scan.png;
  } catch (err) {
    if (err instanceof Refused) throw err;
    throw new Refused(/pixel limit/i.test(describe(err)) ? 'pixels' : 'unreadable', describe(err));
  }
}

async function recognize(request: OcrChildRequest): Promise<OcrChildMessage> {
  const { id } = request;
  try {
    const image = await prepare(request.input, request.maxPixels);
    if (image === null) return { type: 'result', id, paragraphs: [] };
    const worker = await start();
    process.send!({ type: 'recognizing', id } satisfies OcrChildMessage);
    let data: Tesseract.Page;
    try {
      ({ data } = await worker.recognize(image, {}, { blocks: true, text: false }));
    } catch (err) {
      throw new Refused('engine', describe(err));
    }
    const paragraphs = (data.blocks ?? []).flatMap((block) =>
      block.paragraphs.map((paragraph) => paragraph.lines.map((line) => line.words.map((word) => ({ text: word.text, confidence: word.confidence })))),
    );
    return { type: 'result', id, paragraphs };
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
