import { Worker } from 'node:worker_threads';

/**
 * Runs the parsing of an untrusted file in a worker thread with its own heap limit and a time
 * limit, so a file built to blow up a parser (a DOCX of three million empty paragraphs, a PDF of
 * nested objects) ends that thread, never the API or the other jobs of this process.
 *
 * The protocol is small: the worker gets `data` as workerData; it posts `{ type: 'started' }`
 * first (its imports are loaded: a death before that says nothing about the file), then
 * `{ type: 'progress', percent }` any number of times, then `{ type: 'result', value }` or
 * `{ type: 'refused', reason }` (a file it understood to be unreadable, `reason` a code the
 * caller turns into a message for people).
 */

/** Limits of one sandboxed parse (SANDBOX_* in config.ts, README "Configuration"). */
export interface SandboxLimits {
  /** V8 old-generation heap of the worker thread, MiB: where parsers keep their trees. */
  memoryMb: number;
  /** Wall-clock time one parse may take, ms. */
  timeoutMs: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { memoryMb: 1024, timeoutMs: 10 * 60_000 };

/** The sandbox ended the parse because it reached a limit: retrying the same file reaches it again. */
export class SandboxLimitError extends Error {
  constructor(readonly limit: 'memory' | 'time', readonly limits: SandboxLimits) {
    super(limit === 'memory' ? `The parse needed more than ${limits.memoryMb} MiB of heap` : `The parse took longer than ${limits.timeoutMs} ms`);
    this.name = 'SandboxLimitError';
  }
}

/** The worker died for another reason after it started (a parser bug, a stack overflow): the same file would do it again. */
export class SandboxCrashError extends Error {
  constructor(readonly detail: string) {
    super(`The sandboxed parse crashed: ${detail}`);
    this.name = 'SandboxCrashError';
  }
}

/** The worker looked at the file and refused it; `reason` is its code for why. */
export class SandboxRefusal extends Error {
  constructor(readonly reason: string) {
    super(`The sandboxed parse refused the file: ${reason}`);
    this.name = 'SandboxRefusal';
  }
}

export interface SandboxTask {
  /** The worker's entry module (see workerEntry). */
  entry: URL;
  /** Its workerData: plain, structured-cloneable values. */
  data: unknown;
  limits: SandboxLimits;
  /** Aborting it terminates the worker (job stopping, claim lost); the run rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called for each progress message, in order; the run waits for none of them. */
  onProgress?: (percent: number) => void;
}

type WorkerMessage = { type: 'started' } | { type: 'progress'; percent: number } | { type: 'result'; value: unknown } | { type: 'refused'; reason: string };

export function runInSandbox<R>(task: SandboxTask): Promise<R> {
  const { signal, limits } = task;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<R>((resolve, reject) => {
    const worker = new Worker(task.entry, {
      workerData: task.data,
      resourceLimits: {
        maxOldGenerationSizeMb: limits.memoryMb,
        // Young generation and stack stay at sizes that suit parsers; only the old one grows with input.
        maxYoungGenerationSizeMb: Math.min(64, Math.max(8, Math.floor(limits.memoryMb / 16))),
        stackSizeMb: 4,
      },
      // The parent's stdout/stderr and env are not the parser's business.
      stdout: true,
      stderr: true,
      env: {},
    });
    // Drained and dropped: a parser's warnings must not pile up in the API's memory.
    worker.stdout.resume();
    worker.stderr.resume();
    let started = false;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      // terminate() on a worker that already ended is harmless; its promise is not needed.
      void worker.terminate();
      fn();
    };
    const onAbort = () => settle(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => settle(() => reject(new SandboxLimitError('time', limits))), limits.timeoutMs);
    worker.on('message', (m: WorkerMessage) => {
      if (settled) return;
      if (m.type === 'started') started = true;
      else if (m.type === 'progress') task.onProgress?.(m.percent);
      else if (m.type === 'result') settle(() => resolve(m.value as R));
      else if (m.type === 'refused') settle(() => reject(new SandboxRefusal(m.reason)));
    });
    worker.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') return settle(() => reject(new SandboxLimitError('memory', limits)));
      // A worker that never started (its entry or a package missing, no threads left) says nothing about the file: transient.
      if (!started) return settle(() => reject(err));
      settle(() => reject(new SandboxCrashError(err.message)));
    });
    worker.on('exit', (code) => settle(() => reject(started ? new SandboxCrashError(`exit code ${code}`) : new Error(`The sandbox worker exited before it started (code ${code})`))));
  });
}

/**
 * The URL of a worker entry that sits next to `base` (the caller's import.meta.url): the compiled
 * `.js` under dist/ (npm start), the `.ts` source under tsx and vitest, which Node 24 runs by
 * stripping its types. So an entry must be erasable TypeScript that imports only packages
 * (no relative imports: `./x.js` does not exist beside a `.ts` source).
 */
export function workerEntry(base: string, name: string): URL {
  return new URL(`${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}

/** What to tell people for each way the sandbox can end a task because of the file. */
export interface SandboxVerdicts<E> {
  /** The worker refused the file, for this reason (its own code). */
  refused(reason: string): E;
  /** It reached the memory limit. */
  memory(limits: SandboxLimits): E;
  /** It reached the time limit. */
  time(limits: SandboxLimits): E;
  /** It died on the file after it had started. */
  crashed(): E;
}

/**
 * The verdict for a sandbox error that says something about the file; any other error (a worker
 * that never started, the job's own stop) comes back as it was, so it stays transient.
 */
export function judgeSandboxError<E>(err: unknown, verdicts: SandboxVerdicts<E>): E | unknown {
  if (err instanceof SandboxRefusal) return verdicts.refused(err.reason);
  if (err instanceof SandboxLimitError) return err.limit === 'memory' ? verdicts.memory(err.limits) : verdicts.time(err.limits);
  if (err instanceof SandboxCrashError) return verdicts.crashed();
  return err;
}
