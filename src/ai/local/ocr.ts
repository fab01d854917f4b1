import { type ChildProcess, fork } from 'node:child_process';
import { access } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { MAX_INPUT_PIXELS } from '../../media/image.pipeline.js';
import { cappedNode, killFirstUnderMemoryPressure } from '../../media/sandbox/process-caps.js';
import { DEFAULT_SANDBOX_LIMITS, judgeSandboxError, runInSandbox, type SandboxLimits, workerEntry } from '../../media/sandbox/sandbox.js';
import { AiProviderError, AiUnavailableError } from '../ai.port.js';
import type { OcrChildMessage, OcrChildRequest, OcrRefusal } from './ocr.child.js';
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
  /** Mean word confidence 0..1; null when nothing was read. */
  confidence: number | null;
}

export interface OcrOptions {
  cacheDir?: string;
  /** Heap (and wasm memory) of the engine's process, and the time one picture may take. */
  limits?: SandboxLimits;
  /** Told the engine process's id when a recognition really starts in it (logs, tests). */
  onRecognizing?: (pid: number) => void;
}

interface Engine {
  child: ChildProcess;
  /** Its imports loaded: a death from here on is a picture's doing. */
  ready: boolean;
}

/** One engine process, started on first use and reused; jobs run one at a time. */
export class TesseractOcr {
  private engine: Engine | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private readonly cacheDir: string;
  private readonly limits: SandboxLimits;

  constructor(private readonly opts: OcrOptions = {}) {
    this.cacheDir = opts.cacheDir ?? join(tmpdir(), 'dmc-tesseract');
    this.limits = opts.limits ?? DEFAULT_SANDBOX_LIMITS;
  }

  recognize(input: OcrInput, signal?: AbortSignal): Promise<OcrResult> {
    const job = this.queue.then(() => this.run(input, signal));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Ends the engine process. A later `recognize` starts a new one. */
  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = null;
    if (!engine || engine.child.exitCode !== null || engine.child.signalCode !== null) return;
    const exited = new Promise((resolve) => engine.child.once('exit', resolve));
    engine.child.kill('SIGKILL');
    await exited;
  }

  private async run(input: OcrInput, signal?: AbortSignal): Promise<OcrResult> {
    signal?.throwIfAborted();
    try {
      // tesseract.js never settles createWorker when the language data is missing; check first.
      await access(MODEL);
    } catch {
      throw new AiUnavailableError('The English OCR model (@tesseract.js-data/eng) is not installed');
    }
    signal?.throwIfAborted();
    const engine = (this.engine ??= this.spawn());
    const id = this.nextId++;
    const { child } = engine;
    return new Promise<OcrResult>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void, kill: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        child.off('exit', onExit);
        // tesseract.js cannot cancel a job: the process goes, and the next job starts a new one.
        if (kill) void this.discard(engine);
        fn();
      };
      const onAbort = () => settle(() => reject(signal?.reason instanceof Error ? signal.reason : new Error('Aborted')), true);
      const timer = setTimeout(() => settle(() => reject(this.limitError('time')), true), this.limits.timeoutMs);
      const onMessage = (m: OcrChildMessage) => {
        if (m.type === 'ready') return;
        if (m.id !== id) return;
        if (m.type === 'recognizing') this.opts.onRecognizing?.(child.pid ?? 0);
        else if (m.type === 'result') {
          const text = normaliseOcrText(m.text);
          settle(() => resolve({ text, confidence: text === '' ? null : round2(clamp01(m.confidence / 100)) }), false);
        } else settle(() => reject(this.refusalError(m.reason, m.detail)), m.reason === 'engine');
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        // Before its imports loaded (a broken install, no processes left) the death says nothing about the picture: retried.
        if (!engine.ready) return settle(() => reject(new AiProviderError(`The OCR engine could not start (${sig ?? `exit code ${code}`})`, true)), false);
        settle(() => reject(this.limitError('memory')), false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('message', onMessage);
      child.on('exit', onExit);
      const request: OcrChildRequest = { type: 'recognize', id, input: 'path' in input ? input : { image: input.image }, maxPixels: MAX_INPUT_PIXELS };
      child.send(request, (err) => {
        if (err) settle(() => reject(new AiProviderError(`The OCR engine could not be reached: ${err.message}`, true)), true);
      });
    });
  }

  private spawn(): Engine {
    const { memoryMb } = this.limits;
    const child = fork(OCR_CHILD, [this.cacheDir], {
      // Caps of its own, not the parent's flags (a test runner's loaders, the API's heap size).
      // tesseract's wasm memory lives outside the V8 heap: --wasm-max-mem-pages (64 KiB pages) bounds
      // it, and the kernel cap counts it on top of the native memory sharp may take decoding the picture.
      ...cappedNode({ heapMb: memoryMb, nativeMb: this.limits.nativeMemoryMb > 0 ? this.limits.nativeMemoryMb + memoryMb : 0, flags: [`--wasm-max-mem-pages=${memoryMb * 16}`] }),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env: {},
    });
    killFirstUnderMemoryPressure(child);
    const engine: Engine = { child, ready: false };
    child.on('message', (m: OcrChildMessage) => {
      if (m.type === 'ready') engine.ready = true;
    });
    // A failed spawn is reported as 'error' then 'exit'; the job waiting on it hears the exit.
    child.on('error', () => undefined);
    child.once('exit', () => {
      if (this.engine === engine) this.engine = null;
    });
    return engine;
  }

  private async discard(engine: Engine): Promise<void> {
    if (this.engine === engine) this.engine = null;
    engine.child.kill('SIGKILL');
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
