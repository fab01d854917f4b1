import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';

/**
 * Kernel-side bounds for child processes that handle untrusted files. V8's heap flag only bounds
 * JavaScript objects; decoders (libvips, ffmpeg, pdf.js's image code) allocate outside it, so the
 * kernel caps what the process may take, and the kernel's OOM killer is told to pick these
 * children before the API or worker when the machine runs short.
 */

/**
 * util-linux's prlimit sets the limit and execs the program (same pid: kill and exit codes are
 * the program's). Where it is missing (macOS, a slim image) children run without a kernel cap,
 * bounded by their heap and time limits only; docs/processing.md "Hostile files" says so.
 */
const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p)) ?? null;
export const kernelCapsAvailable = (): boolean => PRLIMIT !== null;

/** [program, args] for `binary` under RLIMIT_AS of `memoryMb` MiB (0: no cap): for native tools such as ffmpeg. */
export function underAddressSpaceCap(binary: string, args: readonly string[], memoryMb: number): [string, string[]] {
  if (!PRLIMIT || memoryMb <= 0) return [binary, [...args]];
  return [PRLIMIT, [`--as=${memoryMb * MiB}`, '--', binary, ...args]];
}

/**
 * [program, args] for `binary` under RLIMIT_DATA of `memoryMb` MiB (0: no cap): private writable
 * memory only, so a model file mapped read-only (whisper.cpp's) is not counted, while what the
 * program allocates is.
 */
export function underDataCap(binary: string, args: readonly string[], memoryMb: number): [string, string[]] {
  if (!PRLIMIT || memoryMb <= 0) return [binary, [...args]];
  return [PRLIMIT, [`--data=${memoryMb * MiB}`, '--', binary, ...args]];
}

/**
 * Private writable memory Node reserves at start whatever its heap size (code range, heap
 * reservations, thread stacks; about 570 MiB with sharp loaded, measured with Node 24): counted by
 * RLIMIT_DATA before a byte of the file is read, so it is added to what a child may use.
 */
export const NODE_RESERVED_MB = 768;

export interface NodeChildCaps {
  /** V8 old-generation heap, MiB. */
  heapMb: number;
  /** Memory outside the heap (decoded pixels, native buffers, WebAssembly), MiB; 0: no kernel cap. */
  nativeMb: number;
  /** More Node flags (e.g. --wasm-max-mem-pages). */
  flags?: readonly string[];
}

/**
 * `execPath` and `execArgv` for child_process.fork: Node with its heap flag, behind prlimit's
 * RLIMIT_DATA (heap + native + what Node reserves). RLIMIT_DATA, not RLIMIT_AS: V8 and WebAssembly
 * reserve large address ranges they never touch, which RLIMIT_AS would count and RLIMIT_DATA
 * does not. None of the parent's flags (a test runner's loaders, the API's heap) are passed on.
 */
export function cappedNode(caps: NodeChildCaps): { execPath: string; execArgv: string[] } {
  const node = [`--max-old-space-size=${caps.heapMb}`, ...(caps.flags ?? [])];
  if (!PRLIMIT || caps.nativeMb <= 0) return { execPath: process.execPath, execArgv: node };
  const dataMb = caps.heapMb + caps.nativeMb + NODE_RESERVED_MB;
  return { execPath: PRLIMIT, execArgv: [`--data=${dataMb * MiB}`, '--', process.execPath, ...node] };
}

/**
 * Makes `child` the kernel OOM killer's first choice (oom_score_adj 1000; raising it needs no
 * privilege). Without it, a child's blow-up on a crowded machine can get the API killed instead.
 * Best effort: off Linux, or if the child has already gone, nothing happens.
 */
export function killFirstUnderMemoryPressure(child: ChildProcess): void {
  if (process.platform !== 'linux' || !child.pid) return;
  writeFile(`/proc/${child.pid}/oom_score_adj`, '1000').catch(() => undefined);
}

const MiB = 1024 * 1024;
