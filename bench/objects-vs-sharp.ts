/**
 * The photo's vision step on this machine: the object detector (CenterNet COCO on tfjs wasm, in
 * its own capped process, model loaded once) and the local provider's whole describeImage (the
 * page-of-text check in a sandbox, then the detector, then the caption), against bare sharp
 * decoding the same pictures and resizing them to the model's 512 px in this process — the floor
 * any picture model sits on. Pictures: face-api's six demo photos as the pipeline's 1024 px WebP
 * thumbnails (what the AI step is given). Rounds interleave the three, after a warm-up, so each
 * sees the same machine load; photos per second, median (min–max) over rounds. Also: the cold
 * start (a new process loading the model, first picture) and the detector process's peak memory.
 * The face engine (SSD-MobileNet and the face-recognition net of face-api, in its own process) is
 * measured the same way, and so is the AI step's whole vision part: describeImage, then faces.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import type { AiSettings } from '../src/ai/ai.settings.js';
import { createLocalProvider } from '../src/ai/local/local.provider.js';
import { FaceApiEngine } from '../src/ai/local/faces.js';
import { ObjectDetector } from '../src/ai/local/objects.js';

const ROUNDS = 7;
const PHOTOS = [1, 2, 3, 4, 5, 6];

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const spread = (xs: number[], digits = 1): string => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

/** Peak resident memory of a process, MiB (VmHWM), or null off Linux. */
function peakMib(pid: number): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmHWM:'));
    return line ? Math.round(Number(line.replace(/\D+/g, '')) / 1024) : null;
  } catch {
    return null;
  }
}

async function timed(run: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dmc-bench-objects-'));
  const cache = sharp.cache();
  sharp.cache(false);
  const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
  let pid = 0;
  const detector = new ObjectDetector({ onDetecting: (p) => (pid = p) });
  let facesPid = 0;
  const faces = new FaceApiEngine({ onDetecting: (p) => (facesPid = p) });
  const provider = createLocalProvider({ providers: ['local'], cacheDir: join(dir, 'cache') } as AiSettings);
  try {
    const pictures: string[] = [];
    for (const n of PHOTOS) {
      const path = join(dir, `sample${n}.webp`);
      await sharp(join(demo, `sample${n}.jpg`)).rotate().resize(1024, 1024, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toFile(path);
      pictures.push(path);
    }

    // Cold start: a new process, the model loaded, one picture.
    const cold = await timed(() => detector.detect(pictures[0]!));
    const coldFaces = await timed(() => faces.detect({ path: pictures[0]! }));

    const each = {
      sharp: async () => {
        for (const path of pictures) await sharp(path).resize(512, 512, { fit: 'inside' }).removeAlpha().raw().toBuffer();
      },
      detect: async () => {
        for (const path of pictures) await detector.detect(path);
      },
      describe: async () => {
        for (const path of pictures) await provider.describeImage!({ path, mimeType: 'image/webp' }, {});
      },
      faces: async () => {
        for (const path of pictures) await faces.detect({ path });
      },
      step: async () => {
        for (const path of pictures) {
          await provider.describeImage!({ path, mimeType: 'image/webp' }, {});
          await faces.detect({ path });
        }
      },
    };
    // Warm-up: the provider's own detector process loads its model here.
    for (const fn of Object.values(each)) await fn();
    const rate: Record<keyof typeof each, number[]> = { sharp: [], detect: [], describe: [], faces: [], step: [] };
    const ratio: Record<Exclude<keyof typeof each, 'sharp'>, number[]> = { detect: [], describe: [], faces: [], step: [] };
    for (let r = 0; r < ROUNDS; r++) {
      const ms = { sharp: await timed(each.sharp), detect: await timed(each.detect), describe: await timed(each.describe), faces: await timed(each.faces), step: await timed(each.step) };
      for (const k of Object.keys(ms) as (keyof typeof ms)[]) rate[k].push((pictures.length * 1000) / ms[k]);
      for (const k of Object.keys(ratio) as (keyof typeof ratio)[]) ratio[k].push(ms[k] / ms.sharp);
    }

    console.log(`\nobjects-vs-sharp: face-api's ${pictures.length} demo photos as 1024 px WebP thumbnails, ${ROUNDS} interleaved rounds after a warm-up; photos/s, median (min–max)`);
    console.table({
      'bare sharp decode + resize to 512 px (baseline)': { 'photos/s': spread(rate.sharp), 'ms/photo': (1000 / median(rate.sharp)).toFixed(0), 'ratio (time)': '1.00' },
      'ObjectDetector.detect': { 'photos/s': spread(rate.detect), 'ms/photo': (1000 / median(rate.detect)).toFixed(0), 'ratio (time)': spread(ratio.detect) },
      'local describeImage (page check + detector + caption)': { 'photos/s': spread(rate.describe), 'ms/photo': (1000 / median(rate.describe)).toFixed(0), 'ratio (time)': spread(ratio.describe) },
      'FaceApiEngine.detect (faces, descriptors, crops)': { 'photos/s': spread(rate.faces), 'ms/photo': (1000 / median(rate.faces)).toFixed(0), 'ratio (time)': spread(ratio.faces) },
      'vision step (describeImage + faces)': { 'photos/s': spread(rate.step), 'ms/photo': (1000 / median(rate.step)).toFixed(0), 'ratio (time)': spread(ratio.step) },
    });
    console.log(`Cold start (new process, model load, first photo): detector ${cold.toFixed(0)} ms, face engine ${coldFaces.toFixed(0)} ms. Peak memory (VmHWM): detector ${peakMib(pid) ?? '?'} MiB, face engine ${peakMib(facesPid) ?? '?'} MiB.`);
  } finally {
    await detector.close();
    await faces.close();
    await provider.close?.();
    sharp.cache({ memory: cache.memory.max, files: cache.files.max, items: cache.items.max });
    await rm(dir, { recursive: true, force: true });
  }
}

// Run alone: `npx tsx bench/objects-vs-sharp.ts`.
if (import.meta.url === `file://${process.argv[1]}`) await run();
