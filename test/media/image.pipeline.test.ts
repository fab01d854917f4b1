import { writeFile } from 'node:fs/promises';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exifDate, exifFacts } from '../../src/media/exif.js';
import { MAX_INPUT_PIXELS, processImage } from '../../src/media/image.pipeline.js';
import { hammingDistance } from '../../src/media/perceptual-hash.js';
import { MediaError } from '../../src/media/pipeline.types.js';
import { DEFAULT_PARSE_LIMITS } from '../../src/media/sandbox/limits.js';
import { jpeg, jpegWithExif } from '../support/media.js';
import { mediaDir, testContext, type MediaDir } from '../support/media-ffmpeg.js';

let media: MediaDir;
let n = 0;
beforeAll(async () => {
  media = await mediaDir();
});
afterAll(async () => {
  await media.remove();
});

async function file(bytes: Buffer, name = 'photo.jpg') {
  const path = media.path(`${++n}-${name}`);
  await writeFile(path, bytes);
  return { path, mimeType: 'image/jpeg', filename: name };
}

describe('image pipeline', () => {
  it('reads EXIF date and GPS written by piexifjs, and makes upright, metadata-free WebP thumbnails', async () => {
    const photo = await jpegWithExif({ dateTimeOriginal: '1987:07:14 16:30:05', latitude: 48.858093, longitude: -2.294694, altitude: 35.5, make: 'Canon', model: 'AE-1' }, 2000, 1500);
    const ctx = testContext();
    const result = await processImage(await file(photo), ctx);

    expect(result.width).toBe(2000);
    expect(result.height).toBe(1500);
    expect(result.dateTaken?.toISOString()).toBe('1987-07-14T16:30:05.000Z');
    expect(result.location!.latitude).toBeCloseTo(48.858093, 4);
    expect(result.location!.longitude).toBeCloseTo(-2.294694, 4);
    expect(result.location!.altitude).toBeCloseTo(35.5, 1);
    expect(result.metadata).toEqual({ camera: 'Canon AE-1' });

    expect(result.thumbnails.map((t) => [t.name, t.width, t.height, t.mimeType])).toEqual([
      ['1024', 1024, 768, 'image/webp'],
      ['256', 256, 192, 'image/webp'],
    ]);
    for (const t of result.thumbnails) {
      const stored = ctx.stored.get(t.name)!;
      expect(t.storageKey).toBe(`test/${t.name}`);
      const meta = await sharp(stored.body).metadata();
      expect(meta).toMatchObject({ format: 'webp', width: t.width, height: t.height });
      // Nothing of the original's metadata survives: no EXIF (so no GPS), XMP or ICC.
      expect(meta.exif).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.icc).toBeUndefined();
      expect(stored.body.includes(Buffer.from('Canon'))).toBe(false);
    }
    expect(Buffer.from(result.placeholder!, 'base64').length).toBeGreaterThan(5);
    expect(result.perceptualHash).toMatch(/^[0-9a-f]{16}$/);
    const stages = ctx.stages.map((s) => s.percent);
    expect([...stages].sort((a, b) => a - b)).toEqual(stages);
  });

  it('applies EXIF orientation: a sideways-stored photo comes out upright', async () => {
    // Stored 600×400 with orientation 6 (rotate 90° clockwise to view): upright it is 400×600.
    const photo = await jpegWithExif({ orientation: 6 }, 600, 400);
    const ctx = testContext();
    const result = await processImage(await file(photo), ctx);
    expect([result.width, result.height]).toEqual([400, 600]);
    expect(result.thumbnails.find((t) => t.name === '256')).toMatchObject({ width: 171, height: 256 });
    // The dark block stored at the top-left corner is at the top-right once turned upright.
    const { data, info } = await sharp(ctx.stored.get('256')!.body).raw().toBuffer({ resolveWithObject: true });
    const px = (x: number, y: number) => data[(y * info.width + x) * info.channels]!;
    expect(px(info.width - 20, 30)).toBeLessThan(60);
    expect(px(5, 5)).toBeGreaterThan(150);
  });

  it('gives near-identical photos near-identical hashes and different photos different ones', async () => {
    const a = await processImage(await file(await jpegWithExif({}, 800, 600, '#c84')), testContext());
    const smaller = await sharp(await jpegWithExif({}, 800, 600, '#c84')).resize(400).jpeg({ quality: 60 }).toBuffer();
    const b = await processImage(await file(smaller), testContext());
    const gradient = await sharp(Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7) % 256)), { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    const c = await processImage(await file(gradient), testContext());
    expect(hammingDistance(a.perceptualHash!, b.perceptualHash!)).toBeLessThanOrEqual(6);
    expect(hammingDistance(a.perceptualHash!, c.perceptualHash!)).toBeGreaterThan(10);
  });

  it('does not enlarge small photos and has no date or place without EXIF', async () => {
    const result = await processImage(await file(await jpeg(120, 90)), testContext());
    expect(result.thumbnails.map((t) => [t.width, t.height])).toEqual([
      [120, 90],
      [120, 90],
    ]);
    expect(result).toMatchObject({ dateTaken: null, location: null });
  });

  it('refuses damaged files and decompression bombs with a reason for people', async () => {
    const good = await jpeg(200, 200);
    await expect(processImage(await file(good.subarray(0, 300)), testContext())).rejects.toThrow(MediaError);
    // A PNG whose header claims 20000×20000 pixels (400 MP): refused before decoding.
    const bomb = await pngClaiming(20000, 20000);
    expect(20000 * 20000).toBeGreaterThan(MAX_INPUT_PIXELS);
    const err = await processImage({ ...(await file(bomb, 'bomb.png')), mimeType: 'image/png' }, testContext()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect((err as Error).message).toMatch(/megapixels/);
  });

  it('decodes in the sandbox: a header claiming 50,000×50,000 and a real decompression bomb fail with a reason, the job goes on', async () => {
    const claim = await processImage({ ...(await file(await pngClaiming(50_000, 50_000), 'claim.png')), mimeType: 'image/png' }, testContext()).catch((e: unknown) => e);
    expect(claim).toBeInstanceOf(MediaError);
    expect((claim as Error).message).toMatch(/larger than 100 megapixels/);
    // 12,000×12,000 of one colour: about 0.4 MB packed, 432 MB decoded; refused from its header.
    const bomb = await sharp({ create: { width: 12_000, height: 12_000, channels: 3, background: '#fff' } }).png({ compressionLevel: 9 }).toBuffer();
    expect(bomb.length).toBeLessThan(2 * 1024 * 1024);
    const inflated = await processImage({ ...(await file(bomb, 'bomb.png')), mimeType: 'image/png' }, testContext()).catch((e: unknown) => e);
    expect((inflated as Error).message).toMatch(/larger than 100 megapixels/);
    // A decoder that overruns the sandbox's time limit ends its thread: a reason, not a retry.
    const slow = { ...testContext(), limits: { ...DEFAULT_PARSE_LIMITS, sandbox: { memoryMb: 128, nativeMemoryMb: 1536, timeoutMs: 1 } } };
    const late = await processImage(await file(await jpeg(2000, 1500)), slow).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(MediaError);
    expect((late as Error).message).toMatch(/takes longer than/);
    // And the same process decodes the next photo.
    expect((await processImage(await file(await jpeg(300, 200)), testContext())).width).toBe(300);
  });

  it('reads EXIF dates as the camera wrote them, with an offset when there is one', async () => {
    expect(exifDate('2019:06:01 12:00:00', undefined)?.toISOString()).toBe('2019-06-01T12:00:00.000Z');
    expect(exifDate('2019:06:01 12:00:00', '+02:00')?.toISOString()).toBe('2019-06-01T10:00:00.000Z');
    expect(exifDate('0000:00:00 00:00:00', undefined)).toBeNull();
    expect(exifDate('garbage', undefined)).toBeNull();
    expect(exifFacts(null)).toEqual({ dateTaken: null, location: null, camera: null });
  });
});

/** A small real PNG whose IHDR is rewritten (with a correct CRC) to claim another size. */
async function pngClaiming(width: number, height: number): Promise<Buffer> {
  const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
  // Signature (8) + length (4) + "IHDR" (4), then width and height; the CRC covers type + data.
  png.writeUInt32BE(width, 16);
  png.writeUInt32BE(height, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  return png;
}
