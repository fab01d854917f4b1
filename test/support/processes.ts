import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { TEST_SECRET_KEY } from './db.js';

const ROOT = join(import.meta.dirname, '..', '..');

/** A product process (API or worker) started from source as a child, with its output kept. */
export interface ProductProcess {
  child: ChildProcess;
  /** JSON log lines (pino) seen so far. */
  logs: Record<string, unknown>[];
  output: () => string;
  exited: Promise<number | null>;
  /** Resolves with the first log line that matches, or rejects if the process exits first. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export function startProcess(entry: 'src/main.ts' | 'worker/main.ts', env: Record<string, string>): ProductProcess {
  // Served mode needs SECRET_KEY; tests that share one database share this one unless they say otherwise.
  const secret = env.DATABASE_URL ? { SECRET_KEY: TEST_SECRET_KEY } : {};
  const child = spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...secret, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let text = '';
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.on('data', (d: Buffer) => {
    text += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  // 'close', not 'exit': by then stdout has been read to the end, so the last log lines are in.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return {
    child,
    logs,
    output: () => text,
    exited,
    waitForLog(match, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = logs.find(match);
          if (found) {
            done();
            resolve(found);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`process exited before the expected log line:\n${text.slice(-3000)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`timed out waiting for a log line:\n${text.slice(-3000)}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', check);
        };
        waiters.add(check);
        child.once('exit', check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      await exited;
    },
  };
}

/** Starts the API from source on a free port and waits until it is ready; returns its base URL. */
export async function startApi(env: Record<string, string>): Promise<{ proc: ProductProcess; url: string }> {
  const port = await freePort();
  const proc = startProcess('src/main.ts', { ...env, PORT: String(port), HOST: '127.0.0.1' });
  await proc.waitForLog((l) => typeof l.msg === 'string' && l.msg.startsWith('ready'), 90_000);
  return { proc, url: `http://127.0.0.1:${port}` };
}

export async function startWorkerProcess(env: Record<string, string>): Promise<ProductProcess> {
  const proc = startProcess('worker/main.ts', env);
  await proc.waitForLog((l) => l.msg === 'worker ready', 90_000);
  return proc;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}
