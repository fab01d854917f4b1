/**
 * Finding copies among a story's photos (duplicateGroups: every pair's perceptual hashes compared)
 * against the same pairwise loop with the BigInt Hamming distance it used before, in the same run:
 * 1,000 and 2,000 photos with random 64-bit hashes (no copies, the worst case: nothing is grouped
 * away). Interleaved rounds, median (min–max) milliseconds and the ratio.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { FileType } from '../src/db/enums.js';
import { type CopyCandidate, duplicateGroups, NEAR_COPY_BITS } from '../src/domain/story/duplicates.js';

const ROUNDS = 7;

function bigintDistance(a: string, b: string): number {
  let x = BigInt(`0x${a}`) ^ BigInt(`0x${b}`);
  let n = 0;
  while (x) {
    n += Number(x & 1n);
    x >>= 1n;
  }
  return n;
}

/** The baseline: the pairwise loop over hashes alone, with the old distance. */
function bigintPairs(memories: readonly CopyCandidate[]): number {
  let near = 0;
  for (let i = 0; i < memories.length; i++) {
    for (let j = i + 1; j < memories.length; j++) if (bigintDistance(memories[i]!.perceptualHash!, memories[j]!.perceptualHash!) <= NEAR_COPY_BITS) near++;
  }
  return near;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const spread = (xs: number[], digits = 0) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;
const timed = (run: () => unknown) => {
  const t0 = performance.now();
  run();
  return performance.now() - t0;
};

export async function run(): Promise<void> {
  const rows: Record<string, Record<string, string>> = {};
  for (const n of [1000, 2000]) {
    const memories: CopyCandidate[] = Array.from({ length: n }, () => ({
      id: randomUUID(),
      kind: FileType.IMAGE,
      sha256: randomBytes(32).toString('hex'),
      perceptualHash: randomBytes(8).toString('hex'),
      text: null,
      transcript: null,
      caption: null,
      captionBy: null,
    }));
    const ours: number[] = [];
    const base: number[] = [];
    const ratio: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const b = timed(() => bigintPairs(memories));
      const o = timed(() => duplicateGroups(memories));
      base.push(b);
      ours.push(o);
      ratio.push(o / b);
    }
    rows[`${n} photos`] = { 'BigInt pairs ms (baseline)': spread(base), 'duplicateGroups ms': spread(ours), 'ratio (time)': spread(ratio, 2) };
  }
  console.log(`\ncopies-vs-bigint: duplicateGroups against the pairwise loop with the BigInt distance, ${ROUNDS} interleaved rounds; median (min–max)`);
  console.table(rows);
}

// Run alone: `npx tsx bench/copies-vs-bigint.ts`.
if (import.meta.url === `file://${process.argv[1]}`) await run();
