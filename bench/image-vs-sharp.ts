/**
 * The photo pipeline (processImage: header, EXIF, one decode to 1024 px, two WebP thumbnails,
 * ThumbHash, perceptual hash) against bare sharp doing the least that gives the same two
 * thumbnails: one decode of the same file to 1024 px, then 1024 and 256 WebP from those pixels —
 * the floor the pipeline sits on. Same process, same files; derivatives stay in memory. Reports
 * the ratio per image size.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import { processImage, THUMBNAIL_SIZES } from '../src/media/image.pipeline.js';
import type { PipelineContext } from '../src/media/pipeline.types.js';

const IMAGES = [
  { name: '12 MP', width: 4000, height: 3000 },
  { name: '3 MP', width: 2000, height: 1500 },
];
const RUNS = 10;

/** A camera-like JPEG: smooth colour regions with fine grain (not flat, not pure noise), with EXIF. */
async function makePhoto(path: string, width: number, height: number): Promise<void> {
  const coarse = await sharp({ create: { width: Math.round(width / 16), height: Math.round(height / 16), channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
    .png()
    .toBuffer();
  const grain = await sharp({ create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 12 } } })
    .png()
    .toBuffer();
  await sharp(coarse)
    .resize(width, height, { kernel: 'cubic' })
    .composite([{ input: grain, blend: 'overlay' }])
    .withExif({ IFD0: { Make: 'Bench', Model: 'Camera 1' }, IFD2: { DateTimeOriginal: '1984:08:12 10:15:00' } })
    .jpeg({ quality: 90 })
    .toFile(path);
}

/**
 * Mean ms of each function, run alternately (warm-up first) so both see the same machine load:
 * the ratio stays meaningful on a busy machine even when the absolute times do not.
 */
async function timeAlternately(runs: number, a: () => Promise<unknown>, b: () => Promise<unknown>): Promise<[number, number]> {
  for (let i = 0; i < Math.min(2, runs); i++) {
    await a(); // warm-up
    await b();
  }
  let ta = 0;
  let tb = 0;
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await a();
    ta += performance.now() - t0;
    t0 = performance.now();
    await b();
    tb += performance.now() - t0;
  }
  return [ta / runs, tb / runs];
}

/** One decode (shrink-on-load) to the largest thumbnail, then both WebP files from those pixels. */
async function bareSharp(path: string): Promise<Buffer[]> {
  const { data, info } = await sharp(path)
    .rotate()
    .resize(THUMBNAIL_SIZES[0], THUMBNAIL_SIZES[0], { fit: 'inside', withoutEnlargement: true })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const raw = { raw: { width: info.width, height: info.height, channels: info.channels } } as const;
  const out: Buffer[] = [];
  for (const size of THUMBNAIL_SIZES) {
    out.push(await sharp(data, raw).resize(size, size, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer());
  }
  return out;
}

export async function run(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dmc-bench-image-'));
  // libvips' operation cache would serve repeated decodes of the same file from memory: off, so
  // every run decodes as the worker does on a new upload.
  const cache = sharp.cache();
  sharp.cache(false);
  try {
    const kept = new Map<string, Buffer>();
    const ctx: PipelineContext = {
      derivatives: async (name, body) => {
        // Photos only write thumbnails, which are buffers.
        if (Buffer.isBuffer(body)) kept.set(name, body);
        return `bench/${name}`;
      },
      report: async () => undefined,
    };
    const rows: Record<string, Record<string, string>> = {};
    for (const image of IMAGES) {
      const path = join(dir, `${image.width}x${image.height}.jpg`);
      await makePhoto(path, image.width, image.height);
      const mib = ((await stat(path)).size / 1024 / 1024).toFixed(1);

      const [baseline, pipeline] = await timeAlternately(
        RUNS,
        () => bareSharp(path),
        () => processImage({ path, mimeType: 'image/jpeg', filename: 'photo.jpg' }, ctx),
      );

      rows[`${image.name} bare sharp (baseline)`] = { file: `${mib} MiB`, 'ms/image': baseline.toFixed(1), 'images/s': (1000 / baseline).toFixed(1), ratio: '1.00' };
      rows[`${image.name} processImage`] = { file: `${mib} MiB`, 'ms/image': pipeline.toFixed(1), 'images/s': (1000 / pipeline).toFixed(1), ratio: (pipeline / baseline).toFixed(2) };
    }
    console.log(`\nimage-vs-sharp: generated JPEGs (q90, EXIF), ${RUNS} runs each (alternating), thumbnails ${THUMBNAIL_SIZES.join(' and ')} px WebP kept in memory`);
    console.table(rows);
    console.log('The pipeline also reads the header and EXIF and computes a ThumbHash and a perceptual hash; the baseline only makes the two thumbnails.');
  } finally {
    sharp.cache({ memory: cache.memory.max, files: cache.files.max, items: cache.items.max });
    await rm(dir, { recursive: true, force: true });
  }
}
