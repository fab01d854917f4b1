import { type ChildProcess, fork } from 'node:child_process';
import { cappedNode, killFirstUnderMemoryPressure } from '../../media/sandbox/process-caps.js';
import type { SandboxLimits } from '../../media/sandbox/sandbox.js';
import { AiProviderError } from '../ai.port.js';

/**
 * A long-lived child process that holds a model (tesseract, face-api, CenterNet) and serves one
 * request at a time: the model loads once per worker process, while the pictures it reads stay
 * out of the worker's way. The child says `{ type: 'ready' }` once its imports are loaded (a
 * death before that is a broken install, not the picture's fault: retryable) and answers each
 * request with messages that carry the request's `id`.
 *
 * Bounds: the child runs under cappedNode (V8 heap, WebAssembly pages of the same size, and a
 * kernel cap on native plus WebAssembly memory), is the kernel OOM killer's first pick, and a
 * request has a time limit. A request that meets a limit, is aborted, or whose reply says the
 * engine itself broke, kills the process (models cannot be cancelled mid-run): the next request
 * starts a fresh one. A death mid-request is the picture's doing (memory).
 */

/** What an engine child sends: `ready` once, then replies to requests by id. */
export type EngineMessage = { type: 'ready' } | { type: string; id: number };

/** What a reply means for the request: its value, or an error (and whether the process must go). */
export type EngineVerdict<R> = { value: R } | { error: Error; kill?: boolean };

export interface EngineSpec {
  /** Path of the child's entry module. */
  entry: string;
  args?: string[];
  limits: SandboxLimits;
  env?: Record<string, string>;
  /** "The OCR engine", for the messages of an engine that cannot start or be reached. */
  name: string;
  /** The message for people when a request meets the memory or time limit. */
  limitError(limit: 'memory' | 'time'): Error;
}

export interface EngineRequest<Req, R> {
  /** The message to send, given its id. */
  build(id: number): Req;
  /** Reads each message with this request's id; undefined: not the last one (progress, ...). */
  onReply(message: EngineMessage, pid: number): EngineVerdict<R> | undefined;
  signal?: AbortSignal;
}

interface Engine {
  child: ChildProcess;
  ready: boolean;
}

export class EngineProcess {
  private engine: Engine | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;

  constructor(private readonly spec: EngineSpec) {}

  /** Runs `request` once those before it have settled. */
  request<Req, R>(request: EngineRequest<Req, R>): Promise<R> {
    const job = this.queue.then(() => this.run(request));
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Ends the engine process. A later request starts a new one. */
  async close(): Promise<void> {
    const engine = this.engine;
    this.engine = null;
    if (!engine || engine.child.exitCode !== null || engine.child.signalCode !== null) return;
    const exited = new Promise((resolve) => engine.child.once('exit', resolve));
    engine.child.kill('SIGKILL');
    await exited;
  }

  private run<Req, R>({ build, onReply, signal }: EngineRequest<Req, R>): Promise<R> {
    signal?.throwIfAborted();
    const engine = (this.engine ??= this.spawn());
    const id = this.nextId++;
    const { child } = engine;
    const { limits, name, limitError } = this.spec;
    return new Promise<R>((resolve, reject) => {
      let settled = false;
      const settle = (fn: () => void, kill: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (kill) this.discard(engine);
        fn();
      };
      const onAbort = () => settle(() => reject(signal?.reason instanceof Error ? signal.reason : new Error('Aborted')), true);
      const timer = setTimeout(() => settle(() => reject(limitError('time')), true), limits.timeoutMs);
      const onMessage = (m: EngineMessage) => {
        if (m.type === 'ready' || !('id' in m) || m.id !== id) return;
        const verdict = onReply(m, child.pid ?? 0);
        if (!verdict) return;
        if ('value' in verdict) settle(() => resolve(verdict.value), false);
        else settle(() => reject(verdict.error), verdict.kill ?? false);
      };
      const onExit = (code: number | null, sig: NodeJS.Signals | null) => {
        if (!engine.ready) return settle(() => reject(new AiProviderError(`${name} could not start (${sig ?? `exit code ${code}`})`, true)), false);
        settle(() => reject(limitError('memory')), false);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      child.on('message', onMessage);
      child.on('exit', onExit);
      child.send(build(id) as object, (err) => {
        if (err) settle(() => reject(new AiProviderError(`${name} could not be reached: ${err.message}`, true)), true);
      });
    });
  }

  private spawn(): Engine {
    const { entry, args = [], limits, env = {} } = this.spec;
    const { memoryMb, nativeMemoryMb } = limits;
    const child = fork(entry, args, {
      // Caps of its own, not the parent's flags (a test runner's loaders, the API's heap size).
      // Models keep weights and tensors in WebAssembly memory, outside the V8 heap:
      // --wasm-max-mem-pages (64 KiB pages) bounds it, and the kernel cap counts it on top of the
      // native memory sharp takes decoding the picture.
      ...cappedNode({ heapMb: memoryMb, nativeMb: nativeMemoryMb > 0 ? nativeMemoryMb + memoryMb : 0, flags: [`--wasm-max-mem-pages=${memoryMb * 16}`] }),
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      env,
    });
    killFirstUnderMemoryPressure(child);
    const engine: Engine = { child, ready: false };
    child.on('message', (m: EngineMessage) => {
      if (m.type === 'ready') engine.ready = true;
    });
    // A failed spawn is reported as 'error' then 'exit'; the request waiting on it hears the exit.
    child.on('error', () => undefined);
    child.once('exit', () => {
      if (this.engine === engine) this.engine = null;
    });
    return engine;
  }

  private discard(engine: Engine): void {
    if (this.engine === engine) this.engine = null;
    engine.child.kill('SIGKILL');
  }
}
