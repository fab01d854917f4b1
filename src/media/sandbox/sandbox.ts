import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cappedNode, killFirstUnderMemoryPressure } from './process-caps.js';

/**
 * Runs the parsing of an untrusted file in a child process of its own (sandbox.child.ts) with a
 * heap limit, a kernel cap on the rest of its memory, a time limit, and the kernel OOM killer's
 * first pick, so a file built to blow up a parser (a DOCX of three million empty paragraphs, a
 * PNG that decodes to gigabytes) ends that process, never the API, the worker or other jobs. A
 * process rather than a worker thread: a thread's heap limit does not bound native memory
 * (libvips keeps pixels outside V8), and a native crash in a thread takes its whole process down.
 *
 * The entry module exports `run(data, progress)`, which returns `{ type: 'result', value }` or
 * `{ type: 'refused', reason }` (a file it understood to be unreadable, `reason` a code the caller
 * turns into a message for people); `progress(percent)` may be called any number of times.
 */

/** Limits of one sandboxed parse (SANDBOX_* in config.ts, docs/configuration.md "Variables"). */
export interface SandboxLimits {
  /** V8 old-generation heap of the process, MiB: where parsers keep their trees. */
  memoryMb: number;
  /** Memory outside that heap (decoded pixels, native buffers), MiB, capped by the kernel; 0: no cap. */
  nativeMemoryMb: number;
  /** Wall-clock time one parse may take, ms. */
  timeoutMs: number;
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { memoryMb: 1024, nativeMemoryMb: 1536, timeoutMs: 10 * 60_000 };

/** Threads libvips may use in each sandbox (VIPS_CONCURRENCY): set by the worker from its job concurrency. */
let nativeThreads: number | null = null;
export function setSandboxThreads(threads: number): void {
  nativeThreads = threads;
}

/** The sandbox ended the parse because it reached a limit: retrying the same file reaches it again. */
export class SandboxLimitError extends Error {
  constructor(readonly limit: 'memory' | 'time', readonly limits: SandboxLimits) {
    super(limit === 'memory' ? `The parse needed more than ${limits.memoryMb} MiB of heap or ${limits.nativeMemoryMb} MiB besides` : `The parse took longer than ${limits.timeoutMs} ms`);
    this.name = 'SandboxLimitError';
  }
}

/** The process died for another reason after it started (a parser bug, a decoder's segfault): the same file would do it again. */
export class SandboxCrashError extends Error {
  constructor(readonly detail: string) {
    super(`The sandboxed parse crashed: ${detail}`);
    this.name = 'SandboxCrashError';
  }
}

/** The entry looked at the file and refused it; `reason` is its code for why. */
export class SandboxRefusal extends Error {
  constructor(readonly reason: string) {
    super(`The sandboxed parse refused the file: ${reason}`);
    this.name = 'SandboxRefusal';
  }
}

export interface SandboxTask {
  /** The entry module (see workerEntry). */
  entry: URL;
  /** What its `run` gets: plain, structured-cloneable values. */
  data: unknown;
  limits: SandboxLimits;
  /** Aborting it kills the process (job stopping, claim lost); the run rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called for each progress message, in order; the run waits for none of them. */
  onProgress?: (percent: number) => void;
}

type ChildMessage = { type: 'started' } | { type: 'progress'; percent: number } | { type: 'result'; value: unknown } | { type: 'refused'; reason: string };

const HOST = fileURLToPath(workerEntry(import.meta.url, 'sandbox.child'));
/** What V8 and the allocator print when memory runs out under the heap flag or the kernel cap. */
const OUT_OF_MEMORY = /out of memory|heap limit|allocation failed|failed to allocate|bad_alloc|cannot allocate memory|failed to reserve/i;
const STDERR_KEEP = 4096;

export function runInSandbox<R>(task: SandboxTask): Promise<R> {
  const { signal, limits } = task;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise<R>((resolve, reject) => {
    const child = fork(HOST, [], {
      ...cappedNode({ heapMb: limits.memoryMb, nativeMb: limits.nativeMemoryMb }),
      serialization: 'advanced',
      // stderr is kept only as a tail, to tell running out of memory from other deaths.
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // The parent's environment (secrets, a test runner's NODE_OPTIONS) is not the parser's business.
      env: nativeThreads ? { VIPS_CONCURRENCY: String(nativeThreads) } : {},
    });
    killFirstUnderMemoryPressure(child);
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    let started = false;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      fn();
    };
    const onAbort = () => settle(() => reject(signal!.reason));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => settle(() => reject(new SandboxLimitError('time', limits))), limits.timeoutMs);
    child.on('message', (m: ChildMessage) => {
      if (settled) return;
      if (m.type === 'started') started = true;
      else if (m.type === 'progress') task.onProgress?.(m.percent);
      else if (m.type === 'result') settle(() => resolve(m.value as R));
      else if (m.type === 'refused') settle(() => reject(new SandboxRefusal(m.reason)));
    });
    // A failed spawn (no processes left) says nothing about the file: transient. Its 'exit' may follow.
    child.on('error', (err) => settle(() => reject(err)));
    child.on('exit', (code, sig) => {
      // Before the entry loaded (a missing package, a broken install), the death is not the file's: transient.
      if (!started) return settle(() => reject(new Error(`The sandbox process exited before it started (${sig ?? `exit code ${code}`})`)));
      // SIGKILL that we did not send: the kernel's OOM killer, which picks these processes first.
      if (OUT_OF_MEMORY.test(stderr) || sig === 'SIGKILL') return settle(() => reject(new SandboxLimitError('memory', limits)));
      settle(() => reject(new SandboxCrashError(sig ? `signal ${sig}` : `exit code ${code}`)));
    });
    child.send({ entry: task.entry.href, data: task.data }, (err) => {
      if (err) settle(() => reject(err));
    });
  });
}

/**
 * The URL of a sandbox entry that sits next to `base` (the caller's import.meta.url): the compiled
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
