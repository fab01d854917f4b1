import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError } from '../../../src/ai/ai.port.js';
import { describeLocally, pageTags } from '../../../src/ai/local/image-tags.js';
import { type DetectedObject, ObjectDetector, summariseObjects, TAG_THRESHOLD } from '../../../src/ai/local/objects.js';
import { waitUntil } from '../../jobs/jobs.contract.js';
import { pngClaiming } from '../../support/hostile-files.js';
import { DEFAULT_LETTERS, renderLetter } from '../../support/letters.js';
import { mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';

const require = createRequire(import.meta.url);
/** Real group photos shipped with face-api (demo/sample1..6.jpg, 1920 px JPEGs). */
const FACE_API_DEMO = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const demo = (n: number) => join(FACE_API_DEMO, `sample${n}.jpg`);
/** A heap and WebAssembly cap that loads tfjs but not the model and a 512 px picture's activations (64 MB does). */
const TIGHT_MEMORY_MB = 32;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const best = (objects: DetectedObject[], label: string): number => Math.max(0, ...objects.filter((o) => o.label === label).map((o) => o.score));

describe('ObjectDetector (CenterNet COCO on tfjs wasm, in its own process)', () => {
  let dir: MediaDir;
  const detections: { pid: number; modelLoads: number }[] = [];
  let detector: ObjectDetector;
  const seen = new Map<number, DetectedObject[]>();

  beforeAll(async () => {
    dir = await mediaDir();
    detector = new ObjectDetector({ onDetecting: (pid, modelLoads) => detections.push({ pid, modelLoads }) });
    for (const n of [1, 2, 3, 4, 5, 6]) seen.set(n, await detector.detect(demo(n)));
  }, 120_000);
  afterAll(async () => {
    await detector.close();
    await dir.remove();
  });

  it('finds people in every one of the six demo photos, with their confidence', () => {
    for (const [n, objects] of seen) {
      expect(best(objects, 'person'), `sample${n}`).toBeGreaterThanOrEqual(0.35);
      const { tags } = summariseObjects(objects);
      expect(tags.find((t) => t.name === 'person')!.confidence, `sample${n}`).toBeGreaterThanOrEqual(TAG_THRESHOLD);
    }
  });

  it('counts the people it is sure of, never more than are there', () => {
    // Hand-counted: 3, 3, 3, 4, 6 and 4 people. Crowded pictures are undercounted, not overcounted.
    const truth = [3, 3, 3, 4, 6, 4];
    for (const [n, objects] of seen) {
      const people = summariseObjects(objects).counts.find((c) => c.label === 'person')!.count;
      expect(people, `sample${n}`).toBeLessThanOrEqual(truth[n - 1]!);
      expect(people, `sample${n}`).toBeGreaterThanOrEqual(2);
    }
    expect(summariseObjects(seen.get(1)!).counts.find((c) => c.label === 'person')).toEqual({ label: 'person', count: 3 });
    expect(summariseObjects(seen.get(6)!).counts.find((c) => c.label === 'person')).toEqual({ label: 'person', count: 4 });
  });

  it('sees the things people hold: a wine glass, a drink, a phone', () => {
    expect(best(seen.get(1)!, 'wine glass')).toBeGreaterThanOrEqual(TAG_THRESHOLD);
    expect(best(seen.get(3)!, 'cup')).toBeGreaterThanOrEqual(0.45);
    // The phone on the sofa is seen, but not surely enough to become a tag (and is also taken for a remote control).
    expect(best(seen.get(2)!, 'phone')).toBeGreaterThanOrEqual(0.3);
    expect(best(seen.get(2)!, 'phone')).toBeLessThan(TAG_THRESHOLD);
  });

  it('gives boxes as fractions of the picture, where the things are', () => {
    const objects = seen.get(1)!;
    for (const { box } of objects) {
      expect(box.x).toBeGreaterThanOrEqual(0);
      expect(box.y).toBeGreaterThanOrEqual(0);
      expect(box.x + box.width).toBeLessThanOrEqual(1.001);
      expect(box.y + box.height).toBeLessThanOrEqual(1.001);
    }
    // Three women side by side, a wine glass low on the left in the hand of the first.
    const people = objects.filter((o) => o.label === 'person' && o.score >= TAG_THRESHOLD).map((o) => o.box.x + o.box.width / 2);
    expect(people.sort((a, b) => a - b)).toEqual([expect.closeTo(0.24, 1), expect.closeTo(0.5, 1), expect.closeTo(0.8, 1)]);
    const glass = objects.find((o) => o.label === 'wine glass')!.box;
    expect(glass.x + glass.width / 2).toBeLessThan(0.3);
    expect(glass.y + glass.height / 2).toBeGreaterThan(0.7);
  });

  it('tags nothing in a picture with nothing in it', async () => {
    for (const background of ['#808080', '#f6f3ec', '#1f5fbf']) {
      const path = dir.path(`plain-${background.slice(1)}.png`);
      await writeFile(path, await sharp({ create: { width: 640, height: 480, channels: 3, background } }).png().toBuffer());
      expect(summariseObjects(await detector.detect(path)).tags).toEqual([]);
    }
  });

  it('loads the model once and reuses its process for every picture, concurrent ones included', async () => {
    const before = detections.length;
    await Promise.all([detector.detect(demo(5)), detector.detect(demo(6))]);
    expect(detections.length).toBe(before + 2);
    expect(new Set(detections.map((d) => d.pid)).size).toBe(1);
    expect(detections.every((d) => d.modelLoads === 1)).toBe(true);
    expect(detections[0]!.pid).not.toBe(process.pid);
  });

  it('refuses bytes that are not a picture, and keeps working', async () => {
    const path = dir.path('not-a-picture.jpg');
    await writeFile(path, 'not a picture');
    await expect(detector.detect(path)).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/could not be read/) });
    expect(best(await detector.detect(demo(6)), 'person')).toBeGreaterThan(0.5);
  });

  it('refuses a picture whose header claims 50,000×50,000 px before decoding it', async () => {
    const path = dir.path('claims.png');
    await writeFile(path, pngClaiming(await sharp({ create: { width: 64, height: 48, channels: 3, background: '#888' } }).png().toBuffer(), 50_000, 50_000));
    const refused = await detector.detect(path).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AiProviderError);
    expect(refused).toMatchObject({ retryable: false, message: expect.stringMatching(/larger than 100 megapixels/) });
  });

  it('when aborted mid-detection, ends its process; the next picture starts a fresh one', async () => {
    const controller = new AbortController();
    const pids: number[] = [];
    const watching = new ObjectDetector({ onDetecting: (pid) => (pids.push(pid), controller.abort(new Error('worker shutting down'))) });
    try {
      await expect(watching.detect(demo(1), controller.signal)).rejects.toThrow('worker shutting down');
      await waitUntil(async () => !isAlive(pids[0]!), 'the aborted detector process has ended', 10_000);
      expect(best(await watching.detect(demo(1)), 'person')).toBeGreaterThan(0.5);
      expect(pids).toHaveLength(2);
      expect(pids[1]).not.toBe(pids[0]);
    } finally {
      await watching.close();
    }
  });

  it('over its memory limit, fails with a reason for people, not retried', async () => {
    const tight = new ObjectDetector({ limits: { memoryMb: TIGHT_MEMORY_MB, nativeMemoryMb: 1536, timeoutMs: 120_000 } });
    try {
      const failed = await tight.detect(demo(1)).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(AiProviderError);
      expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(new RegExp(`needs more than the ${TIGHT_MEMORY_MB} MB of memory`)) });
    } finally {
      await tight.close();
    }
  });

  it('over its time limit, is stopped and fails with a reason for people', async () => {
    const hasty = new ObjectDetector({ limits: { memoryMb: 1024, nativeMemoryMb: 1536, timeoutMs: 1 } });
    try {
      await expect(hasty.detect(demo(1))).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/takes longer than the 0 seconds one file may take/) });
    } finally {
      await hasty.close();
    }
  });

  it("hands back the copy it decoded, and the page check reads it as it reads the sandbox's copy", { timeout: 180_000 }, async () => {
    // The 1024 px WebP thumbnails the AI step is given: the corpus letters and the demo photos.
    const pictures: { name: string; path: string }[] = [];
    for (const [i, spec] of DEFAULT_LETTERS.entries()) {
      const path = dir.path(`letter-${i}.webp`);
      await sharp((await renderLetter(spec)).jpeg).rotate().resize(1024, 1024, { fit: 'inside' }).webp({ quality: 80 }).toFile(path);
      pictures.push({ name: `letter ${i}`, path });
    }
    for (const n of [1, 2, 3, 4, 5, 6]) {
      const path = dir.path(`sample${n}-thumb.webp`);
      await sharp(demo(n)).rotate().resize(1024, 1024, { fit: 'inside' }).webp({ quality: 80 }).toFile(path);
      pictures.push({ name: `sample${n}`, path });
    }
    for (const { name, path } of pictures) {
      const look = await detector.look({ path, picture: true });
      expect(Math.max(look.picture!.width, look.picture!.height), name).toBe(512);
      const ours = pageTags(look.picture!).find((t) => t.name === 'document')?.confidence ?? 0;
      const sandbox = (await describeLocally(path, {})).tags.find((t) => t.name === 'document')?.confidence ?? 0;
      expect(ours > 0.5, name).toBe(sandbox > 0.5);
      expect(Math.abs(ours - sandbox), name).toBeLessThan(0.1);
    }
    // A small picture is read at its own size, never enlarged; without asking, no copy crosses.
    const small = dir.path('small.png');
    await sharp({ create: { width: 300, height: 200, channels: 3, background: '#f0f0f0' } }).png().toFile(small);
    expect((await detector.look({ path: small, picture: true })).picture).toMatchObject({ width: 300, height: 200, channels: 3 });
    expect((await detector.look({ path: small, picture: false })).picture).toBeNull();
  });

  it('a process killed mid-detection fails that picture with a reason; the next one starts a new process', async () => {
    const pids: number[] = [];
    const killing = new ObjectDetector({ onDetecting: (pid) => (pids.push(pid), pids.length === 1 && process.kill(pid, 'SIGKILL')) });
    try {
      await expect(killing.detect(demo(1))).rejects.toMatchObject({ retryable: false, message: expect.stringMatching(/or the detector stops on it/) });
      expect(best(await killing.detect(demo(1)), 'person')).toBeGreaterThan(0.5);
      expect(pids[1]).not.toBe(pids[0]);
    } finally {
      await killing.close();
    }
  });
});

describe('summariseObjects', () => {
  const at = (label: string, score: number): DetectedObject => ({ label, score, box: { x: 0, y: 0, width: 1, height: 1 } });

  it('one tag per label with its best score, counts of what passed the threshold, best first', () => {
    const { tags, counts } = summariseObjects([at('dog', 0.5), at('person', 0.8), at('dog', 0.36), at('dog', 0.34), at('cat', 0.1)]);
    expect(tags).toEqual([
      { name: 'person', confidence: 0.8 },
      { name: 'dog', confidence: 0.5 },
    ]);
    expect(counts).toEqual([
      { label: 'person', count: 1 },
      { label: 'dog', count: 2 },
    ]);
  });

  it(`keeps nothing under ${TAG_THRESHOLD}`, () => {
    expect(summariseObjects([at('cup', 0.34), at('kite', 0.2)])).toEqual({ tags: [], counts: [] });
  });
});
