import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import sharp from 'sharp';
import { Asset, Chest } from '../../src/db/entities/index.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { makeAsset } from './factories.js';

/**
 * Real photos of real people for the face tests: the six group photos that @vladmandic/face-api
 * ships in demo/ (1920 px wide JPEGs, 3 to 5 people each, 22 people in all, none in two photos),
 * and new pictures of the same people made from them by cropping.
 */

const require = createRequire(import.meta.url);
const DEMO = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');

export const DEMO_PHOTOS = [1, 2, 3, 4, 5, 6] as const;
/** Faces the engine finds in each demo photo at 1024 px (measured; each one a different person). */
export const DEMO_FACES: Record<(typeof DEMO_PHOTOS)[number], number> = { 1: 3, 2: 3, 3: 3, 4: 4, 5: 5, 6: 4 };

export const demoPhotoPath = (n: number): string => join(DEMO, `sample${n}.jpg`);

/** The demo photo as the image pipeline leaves it for the AI step: upright, at most 1024 px, WebP. */
export function demoThumbnail(n: number): Promise<Buffer> {
  return sharp(demoPhotoPath(n)).rotate().resize(1024, 1024, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 82 }).toBuffer();
}

export interface RelativeBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Another picture of the person whose face is at `box` (relative) in demo photo `n`: cut from the
 * 1920 px original around the face with `margin` face-sizes on each side, scaled to `side` px,
 * lighter and less saturated, recompressed as a JPEG. The way a relative's copy or a crop of a
 * group photo reaches a chest.
 */
export async function demoFaceCrop(n: number, box: RelativeBox, { margin = 1.2, side = 480, brightness = 1.1, saturation = 0.8, quality = 75 } = {}): Promise<Buffer> {
  const meta = await sharp(demoPhotoPath(n)).metadata();
  const W = meta.width!;
  const H = meta.height!;
  const size = Math.max(box.width * W, box.height * H) * (1 + 2 * margin);
  const cx = (box.x + box.width / 2) * W;
  const cy = (box.y + box.height / 2) * H;
  const left = Math.max(0, Math.round(cx - size / 2));
  const top = Math.max(0, Math.round(cy - size / 2));
  const width = Math.min(W - left, Math.round(size));
  const height = Math.min(H - top, Math.round(size));
  return sharp(demoPhotoPath(n))
    .extract({ left, top, width, height })
    .resize(side)
    .modulate({ brightness, saturation })
    .jpeg({ quality })
    .toBuffer();
}

/** Mean and variance of the grey values of a region (relative box) of a picture. */
export async function regionStats(image: Buffer, box: RelativeBox): Promise<{ mean: number; variance: number }> {
  const meta = await sharp(image).metadata();
  const W = meta.width!;
  const H = meta.height!;
  const left = Math.floor(box.x * W);
  const top = Math.floor(box.y * H);
  const width = Math.max(1, Math.min(W - left, Math.round(box.width * W)));
  const height = Math.max(1, Math.min(H - top, Math.round(box.height * H)));
  const { data } = await sharp(image).extract({ left, top, width, height }).greyscale().raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  for (const v of data) sum += v;
  const mean = sum / data.length;
  let sq = 0;
  for (const v of data) sq += (v - mean) ** 2;
  return { mean, variance: sq / data.length };
}

/** Mean absolute difference of local detail: how much neighbouring pixels differ in a region (blur removes it). */
export async function regionDetail(image: Buffer, box: RelativeBox): Promise<number> {
  const meta = await sharp(image).metadata();
  const W = meta.width!;
  const H = meta.height!;
  const left = Math.floor(box.x * W);
  const top = Math.floor(box.y * H);
  const width = Math.max(2, Math.min(W - left, Math.round(box.width * W)));
  const height = Math.max(2, Math.min(H - top, Math.round(box.height * H)));
  const { data } = await sharp(image).extract({ left, top, width, height }).greyscale().raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  let n = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 1; x < width; x++) {
      sum += Math.abs(data[y * width + x]! - data[y * width + x - 1]!);
      n++;
    }
  }
  return n ? sum / n : 0;
}

/**
 * A processed photo as the image pipeline leaves it: `picture` as the original, and its 1024 and
 * 256 px WebP thumbnails in storage (the AI step looks at the 1024 one).
 */
export async function photoMemory(em: EntityManager, storage: StorageBackend, chest: Chest, picture: Buffer): Promise<Asset> {
  const asset = await makeAsset(em, em.getReference(Chest, chest.id), { status: ProcessingStatus.COMPLETE, processedAt: new Date() });
  const thumbnails = [];
  for (const side of [1024, 256]) {
    const webp = await sharp(picture).rotate().resize(side, side, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 82 }).toBuffer();
    const meta = await sharp(webp).metadata();
    const key = `chests/${chest.id}/derivatives/${asset.id}/${side}`;
    await storage.put(key, Readable.from([webp]));
    thumbnails.push({ name: String(side), width: meta.width!, height: meta.height!, mimeType: 'image/webp', storageKey: key });
  }
  await storage.put(asset.storageKey, Readable.from([picture]));
  await em.nativeUpdate(Asset, { id: asset.id }, { thumbnails });
  return em.findOneOrFail(Asset, asset.id, { refresh: true });
}
