import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import { DEFAULT_SANDBOX_LIMITS, judgeSandboxError, runInSandbox, type SandboxLimits, workerEntry } from '../../media/sandbox/sandbox.js';
import { AiProviderError, AiUnavailableError } from '../ai.port.js';
import { EngineProcess } from './engine-process.js';
import type { OcrChildMessage, OcrChildRequest, OcrRefusal } from './ocr.child.js';
import { readableText } from './ocr-words.js';
import type { PdfPagesRefusal, PdfPagesTask } from './pdf-pages.worker.js';

/**
 * OCR with tesseract.js, entirely offline (the wasm core from tesseract.js-core, the English
 * model from @tesseract.js-data/eng; nothing is ever fetched), out of the API's way: the picture
 * is decoded and read in a child process of its own (ocr.child.ts) with a V8 heap cap and a cap
 * on WebAssembly memory of SANDBOX_MEMORY_MB, a time limit of SANDBOX_TIMEOUT_SECONDS per
 * picture, and killed when its job stops. A picture that meets a limit, or kills the engine, is
 * a non-retryable AiProviderError saying why: the analysis records it as FAILED, and does not
 * send the same picture into the same crash again. Pages of scanned PDFs are taken out in a
 * sandbox process of their own (pdf-pages.worker.ts).
 */

const require = createRequire(import.meta.url);

/** The LSTM-only integer model, as ocr.child.ts loads it; checked here because tesseract.js never settles without it. */
const MODEL = join(dirname(require.resolve('@tesseract.js-data/eng/package.json')), '4.0.0_best_int', 'eng.traineddata.gz');
const OCR_CHILD = workerEntry(import.meta.url, './ocr.child');
const PDF_PAGES_WORKER = workerEntry(import.meta.url, './pdf-pages.worker');

export type OcrInput = { path: string } | { image: Buffer };

export interface OcrResult {
  text: string;
  /** Mean confidence 0..1 of the words kept (noise read as letters is left out: ocr-words.ts); null when nothing was read. */
  confidence: number | null;
}

export interface OcrOptions {
  cacheDir?: string;
  /** Heap (and wasm memory) of the engine's process, and the time one picture may take. */
  limits?: SandboxLimits;
  /** Told the engine process's id when a recognition really starts in it (logs, tests). */
  onRecognizing?: (pid: number) => void;
}

/** One engine process (engine-process.ts), started on first use and reused; jobs run one at a time. */
export class TesseractOcr {
  private readonly engine: EngineProcess;
  private readonly limits: SandboxLimits;

  constructor(private readonly opts: OcrOptions = {}) {
    this.limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
    const cacheDir = opts.cacheDir ?? join(tmpdir(), 'dmc-tesseract');
    this.engine = new EngineProcess({ entry: fileURLToPath(OCR_CHILD), args: [cacheDir], limits: this.limits, name: 'The OCR engine', limitError: (limit) => this.limitError(limit) });
  }

  async recognize(input: OcrInput, signal?: AbortSignal): Promise<OcrResult> {
    signal?.throwIfAborted();
    try {
      // tesseract.js never settles createWorker when the language data is missing; check first.
      await access(MODEL);
    } catch {
      throw new AiUnavailableError('The English OCR model (@tesseract.js-data/eng) is not installed');
    }
    return this.engine.request<OcrChildRequest, OcrResult>({
      signal,
      build: (id) => ({ type: 'recognize', id, input: 'path' in input ? input : { image: input.image }, maxPixels: MAX_INPUT_PIXELS }),
      onReply: (reply, pid) => {
        const m = reply as OcrChildMessage & { id: number };
        if (m.type === 'recognizing') return void this.opts.onRecognizing?.(pid);
        if (m.type === 'result') {
          const read = readableText(m.paragraphs);
          const text = normaliseOcrText(read.text);
          return { value: { text, confidence: text === '' || read.confidence === null ? null : round2(clamp01(read.confidence)) } };
        }
        if (m.type === 'refused') return { error: this.refusalError(m.reason, m.detail), kill: m.reason === 'engine' };
        return undefined;
      },
    });
  }

  /** Ends the engine process. A later `recognize` starts a new one. */
  close(): Promise<void> {
    return this.engine.close();
  }

  private limitError(limit: 'memory' | 'time'): AiProviderError {
    return new AiProviderError(
      limit === 'memory'
        ? `Text could not be read from the image: reading it needs more than the ${this.limits.memoryMb} MB of memory one file may use, or the OCR engine stops on it`
        : `Text could not be read from the image: reading it takes longer than the ${Math.round(this.limits.timeoutMs / 1000)} seconds one file may take`,
      false,
    );
  }

  private refusalError(reason: OcrRefusal, detail: string): AiProviderError {
    if (reason === 'pixels') return new AiProviderError(`The image is larger than ${MAX_INPUT_PIXELS / 1_000_000} megapixels and cannot be read for OCR`, false);
    if (reason === 'unreadable') return new AiProviderError(`The image could not be opened for OCR: ${detail}`, false);
    // WebAssembly that could not grow within its cap reports it in words, not by dying; the PNG it
    // was given was just made by sharp, so tesseract failing to read it is its allocation failing.
    if (/memory|OOM|enlarge|alloc|attempting to read image/i.test(detail)) return this.limitError('memory');
    return new AiProviderError(`Text could not be read from the image: ${detail}`, false);
  }
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

const PDF_REFUSALS: Record<PdfPagesRefusal, string> = {
  unopenable: 'The PDF could not be opened to read its pages',
  unreadable: 'The pages of the PDF could not be read',
};

/**
 * The pictures on the first `maxPages` pages of a scanned PDF, as PNGs ready for OCR, in page
 * order; taken out in the sandbox (pdf-pages.worker.ts). Anything the file causes (it cannot be
 * opened, a limit is met, the reader dies) is a non-retryable AiProviderError saying why.
 */
export async function pdfPageImages(path: string, maxPages = 20, opts: { limits?: SandboxLimits; signal?: AbortSignal } = {}): Promise<Buffer[]> {
  const limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
  try {
    const data: PdfPagesTask = { path, maxPages };
    const pngs = await runInSandbox<Uint8Array[]>({ entry: PDF_PAGES_WORKER, data, limits, signal: opts.signal });
    return pngs.map((png) => Buffer.from(png.buffer, png.byteOffset, png.byteLength));
  } catch (err) {
    const final = (message: string) => new AiProviderError(message, false);
    throw judgeSandboxError(err, {
      refused: (reason) => final(PDF_REFUSALS[reason as PdfPagesRefusal] ?? PDF_REFUSALS.unreadable),
      memory: () => final(`The pages of the PDF could not be read: that needs more than the ${limits.memoryMb} MB of memory one file may use`),
      time: () => final(`The pages of the PDF could not be read: that takes longer than the ${Math.round(limits.timeoutMs / 1000)} seconds one file may take`),
      crashed: () => final('The pages of the PDF could not be read: the reader stopped on them, and would again'),
    });
  }
}

const clamp01 = (n: number): number => (Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0);
const round2 = (n: number): number => Math.round(n * 100) / 100;
