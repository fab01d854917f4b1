import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { kernelCapsAvailable } from '../../src/media/sandbox/process-caps.js';
import { runInSandbox, SandboxCrashError, SandboxLimitError, SandboxRefusal, workerEntry } from '../../src/media/sandbox/sandbox.js';

const PROBE = workerEntry(import.meta.url, '../support/sandbox-probe.worker');
const limits = { memoryMb: 64, nativeMemoryMb: 1536, timeoutMs: 60_000 };

type Mode = 'echo' | 'hog' | 'native-hog' | 'spin' | 'throw' | 'refuse' | 'segfault' | 'sigkill';
const run = (mode: Mode, options: { signal?: AbortSignal; onProgress?: (p: number) => void; timeoutMs?: number } = {}) =>
  runInSandbox<{ heap: number; pid: number }>({ entry: PROBE, data: mode, limits: { ...limits, timeoutMs: options.timeoutMs ?? limits.timeoutMs }, ...options });

describe('runInSandbox', () => {
  it('passes progress in order, then the result', async () => {
    const seen: number[] = [];
    const result = await run('echo', { onProgress: (p) => seen.push(p) });
    expect(seen).toEqual([25, 50, 75]);
    expect(result.heap).toBeGreaterThan(0);
  });

  it('runs each task in a process of its own, gone once it answered, first in line for the OOM killer', async () => {
    const { pid } = await run('echo');
    expect(pid).not.toBe(process.pid);
    expect((await run('echo')).pid).not.toBe(pid);
    // Killed at once when the answer came: /proc has no such process left (or a reused pid, not ours).
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    expect(status.includes(`PPid:\t${process.pid}\n`)).toBe(false);
  });

  it.runIf(kernelCapsAvailable())('reports native memory over the kernel cap as a memory limit, and this process goes on', async () => {
    const rss = process.memoryUsage().rss;
    const err = await runInSandbox({ entry: PROBE, data: 'native-hog', limits: { memoryMb: 64, nativeMemoryMb: 256, timeoutMs: 60_000 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxLimitError);
    expect(err).toMatchObject({ limit: 'memory' });
    // The buffers lived in the child: this process did not take them on.
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
  });

  it('takes a death by a signal it did not send as the file\'s: SIGSEGV a crash, SIGKILL (the OOM killer) memory', async () => {
    await expect(run('segfault')).rejects.toMatchObject({ name: 'SandboxCrashError', detail: 'signal SIGSEGV' });
    await expect(run('sigkill')).rejects.toMatchObject({ name: 'SandboxLimitError', limit: 'memory' });
  });

  it('reports a process that exceeds its heap as a memory limit, and this process goes on', async () => {
    const before = process.memoryUsage().heapUsed;
    const err = await run('hog').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SandboxLimitError);
    expect(err).toMatchObject({ limit: 'memory', limits: { memoryMb: 64 } });
    // The hog's arrays lived and died in the child's heap, not in this one.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(32 * 1024 * 1024);
    // And the next task runs as if nothing happened.
    await expect(run('echo')).resolves.toMatchObject({ heap: expect.any(Number) });
  });

  it('ends a process that outlives its time limit', async () => {
    await expect(run('spin', { timeoutMs: 300 })).rejects.toMatchObject({ name: 'SandboxLimitError', limit: 'time' });
  });

  it('ends the process when the job is told to stop, with the signal’s reason', async () => {
    const stop = new AbortController();
    let progress = 0;
    const running = run('spin', {
      signal: stop.signal,
      onProgress: () => {
        if (++progress === 3) stop.abort(new Error('worker stopping'));
      },
    });
    await expect(running).rejects.toThrow('worker stopping');
    expect(progress).toBe(3);
    // Already aborted: no process is started at all.
    await expect(run('echo', { signal: stop.signal })).rejects.toThrow('worker stopping');
  });

  it('tells a crash and a refusal apart from a limit', async () => {
    await expect(run('throw')).rejects.toBeInstanceOf(SandboxCrashError);
    await expect(run('refuse')).rejects.toEqual(new SandboxRefusal('not-for-me'));
  });

  it('fails as transient (a plain Error) when the worker cannot even start', async () => {
    const err = await runInSandbox({ entry: new URL('./no-such.worker.js', import.meta.url), data: null, limits }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(SandboxCrashError);
    expect(err).not.toBeInstanceOf(SandboxLimitError);
  });
});
