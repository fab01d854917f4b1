import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError } from '../../../src/ai/ai.port.js';
import { type FaceDetection, FaceApiEngine, faceDistance, FACE_CROP_SIDE, SAME_PERSON_DISTANCE } from '../../../src/ai/local/faces.js';
import { DEMO_FACES, DEMO_PHOTOS, demoFaceCrop, demoThumbnail } from '../../support/faces.js';
import { pngClaiming } from '../../support/hostile-files.js';

/**
 * The face engine on real photos: face-api's own demo pictures (22 people in six group photos),
 * and crops of them that stand for other pictures of the same people.
 */
describe('the face engine (face-api, SSD-MobileNet, tfjs wasm)', () => {
  let dir: string;
  let engine: FaceApiEngine;
  const pids = new Set<number>();
  const found = new Map<number, FaceDetection>();

  async function detectBytes(bytes: Buffer, name: string, on: FaceApiEngine = engine): Promise<FaceDetection> {
    const path = join(dir, name);
    await writeFile(path, bytes);
    return on.detect({ path });
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dmc-faces-'));
    engine = new FaceApiEngine({ onDetecting: (pid) => pids.add(pid) });
    for (const n of DEMO_PHOTOS) found.set(n, await detectBytes(await demoThumbnail(n), `demo-${n}.webp`));
  }, 240_000);
  afterAll(async () => {
    await engine?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds every face in each demo photo, with boxes inside the picture, scores and 128-number descriptors', () => {
    for (const n of DEMO_PHOTOS) {
      const { faces, width, height } = found.get(n)!;
      expect([width, height].includes(1024), `photo ${n} seen at 1024 px`).toBe(true);
      expect(faces, `photo ${n}`).toHaveLength(DEMO_FACES[n]);
      for (const f of faces) {
        expect(f.box.x).toBeGreaterThanOrEqual(0);
        expect(f.box.y).toBeGreaterThanOrEqual(0);
        expect(f.box.x + f.box.width).toBeLessThanOrEqual(1);
        expect(f.box.y + f.box.height).toBeLessThanOrEqual(1);
        // A face in a group photo: a few percent to a fifth of the picture's width.
        expect(f.box.width).toBeGreaterThan(0.03);
        expect(f.box.width).toBeLessThan(0.25);
        expect(f.score).toBeGreaterThanOrEqual(0.5);
        expect(f.descriptor).toHaveLength(128);
      }
    }
  });

  it('loads its models once: every picture ran in the same engine process', () => {
    expect(pids.size).toBe(1);
  });

  it('keeps the 22 different people apart: no two faces of the demo photos are within the threshold', () => {
    const all = DEMO_PHOTOS.flatMap((n) => found.get(n)!.faces);
    expect(all).toHaveLength(22);
    let closest = Infinity;
    for (let i = 0; i < all.length; i++) for (let j = i + 1; j < all.length; j++) closest = Math.min(closest, faceDistance(all[i]!.descriptor, all[j]!.descriptor));
    expect(closest).toBeGreaterThan(SAME_PERSON_DISTANCE);
  });

  it('a crop of a demo photo (rescaled, re-toned, recompressed) matches the face it was cut around, and no one else', async () => {
    const all = DEMO_PHOTOS.flatMap((n) => found.get(n)!.faces.map((face) => ({ n, face })));
    for (const n of DEMO_PHOTOS) {
      const source = found.get(n)!.faces[0]!;
      const crop = await detectBytes(await demoFaceCrop(n, source.box), `crop-${n}.jpg`);
      // The crop's own face is the one nearest its middle (a neighbour's may show at an edge).
      const own = [...crop.faces].sort((a, b) => centreOffset(a.box) - centreOffset(b.box))[0];
      expect(own, `a face in the crop of photo ${n}`).toBeDefined();
      const distance = faceDistance(own!.descriptor, source.descriptor);
      expect(distance, `crop of photo ${n}`).toBeLessThan(SAME_PERSON_DISTANCE);
      const nearest = all.map((x) => ({ x, d: faceDistance(own!.descriptor, x.face.descriptor) })).sort((a, b) => a.d - b.d)[0]!;
      expect(nearest.x.face).toBe(source);
    }
  });

  it('face crops are square WebP pictures with no metadata', async () => {
    const face = found.get(1)!.faces[0]!;
    const meta = await sharp(face.crop).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: FACE_CROP_SIDE, height: FACE_CROP_SIDE });
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeUndefined();
  });

  it('a picture with no one in it has no faces', async () => {
    const empty = await sharp({ create: { width: 640, height: 480, channels: 3, background: '#8aa0b8' } }).webp().toBuffer();
    expect((await detectBytes(empty, 'sky.webp')).faces).toEqual([]);
  });

  it('a picture whose header claims 50,000×50,000 px is refused before decoding; the engine goes on', async () => {
    const small = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#806040' } }).png().toBuffer();
    const err = await detectBytes(pngClaiming(small, 50_000, 50_000), 'huge.png').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AiProviderError);
    expect(err).toMatchObject({ retryable: false, message: expect.stringMatching(/larger than 100 megapixels/) });
    const again = await detectBytes(await demoThumbnail(1), 'again.webp');
    expect(again.faces).toHaveLength(DEMO_FACES[1]);
    expect(pids.size).toBe(1);
  });

  it('the time limit ends the engine and says so; not retried', async () => {
    const hurried = new FaceApiEngine({ limits: { memoryMb: 1024, nativeMemoryMb: 1536, timeoutMs: 1 } });
    try {
      const err = await detectBytes(await demoThumbnail(2), 'slow.webp', hurried).catch((e: unknown) => e);
      expect(err).toMatchObject({ retryable: false, message: expect.stringMatching(/takes longer than/) });
    } finally {
      await hurried.close();
    }
  });

  it('a heap and wasm cap too small for the models ends the engine with a memory reason; not retried', async () => {
    const tight = new FaceApiEngine({ limits: { memoryMb: 16, nativeMemoryMb: 1536, timeoutMs: 120_000 } });
    try {
      const err = await detectBytes(await demoThumbnail(3), 'tight.webp', tight).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AiProviderError);
      expect(err).toMatchObject({ retryable: false, message: expect.stringMatching(/more than the 16 MB of memory/) });
    } finally {
      await tight.close();
    }
  });

  it('stopping the job kills the engine; the next picture starts a new one', async () => {
    const own = new FaceApiEngine();
    try {
      const ctl = new AbortController();
      const path = join(dir, 'abort.webp');
      await writeFile(path, await demoThumbnail(4));
      const pending = own.detect({ path, signal: ctl.signal });
      ctl.abort(new Error('job stopped'));
      await expect(pending).rejects.toThrow('job stopped');
      expect((await own.detect({ path })).faces).toHaveLength(DEMO_FACES[4]);
    } finally {
      await own.close();
    }
  });
});

const centreOffset = (b: { x: number; y: number; width: number; height: number }) => Math.hypot(b.x + b.width / 2 - 0.5, b.y + b.height / 2 - 0.5);
