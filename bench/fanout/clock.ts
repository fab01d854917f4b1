import { performance } from 'node:perf_hooks';

/** Milliseconds on a clock every process on this machine shares (epoch-based, µs resolution). */
export const now = (): number => performance.timeOrigin + performance.now();

/** What a server child reports about its own memory (after two full GCs when `gc` is exposed). */
export interface MemoryReport {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Peak RSS of the process so far, bytes. */
  maxRss: number;
}

export function memory(collect: boolean): MemoryReport {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (collect && gc) {
    gc();
    gc();
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, maxRss: process.resourceUsage().maxRSS * 1024 };
}
