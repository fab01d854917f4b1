import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { processImage } from '../../src/media/image.pipeline.js';
import { mediaDir, type MediaDir, testContext } from './media-ffmpeg.js';

/**
 * Photos for duplicate tests: a scene of shapes drawn by sharp from a seed (different seeds,
 * different pictures), and copies of one as people make them (resized, recompressed).
 */
export function scene(seed: number, width = 1200, height = 900): Promise<Buffer> {
  let s = seed * 2654435761;
  const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const shapes = Array.from({ length: 14 }, () => {
    const colour = `rgb(${Math.floor(rand() * 255)},${Math.floor(rand() * 255)},${Math.floor(rand() * 255)})`;
    const x = rand() * width;
    const y = rand() * height;
    return rand() < 0.5
      ? `<circle cx="${x}" cy="${y}" r="${(0.05 + rand() * 0.25) * width}" fill="${colour}"/>`
      : `<rect x="${x - 0.2 * width}" y="${y - 0.2 * height}" width="${(0.1 + rand() * 0.4) * width}" height="${(0.1 + rand() * 0.4) * height}" fill="${colour}"/>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="rgb(${seed % 200},120,90)"/>${shapes.join('')}</svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 92 }).toBuffer();
}

/** The same photo as a phone or messenger passes it on: smaller and recompressed. */
export function resizedCopy(photo: Buffer, width: number, quality = 60): Promise<Buffer> {
  return sharp(photo).resize({ width }).jpeg({ quality }).toBuffer();
}

/** What the real image pipeline reads from the bytes: size and perceptual hash. */
export interface Fingerprint {
  width: number;
  height: number;
  perceptualHash: string;
}

/** Runs the real image pipeline (sandboxed decode, pHash) on the bytes. */
export async function fingerprints(photos: readonly Buffer[]): Promise<Fingerprint[]> {
  const dir: MediaDir = await mediaDir();
  try {
    const out: Fingerprint[] = [];
    for (const [i, photo] of photos.entries()) {
      const path = dir.path(`photo-${i}.jpg`);
      await writeFile(path, photo);
      const r = await processImage({ path, mimeType: 'image/jpeg', filename: `photo-${i}.jpg` }, testContext());
      out.push({ width: r.width!, height: r.height!, perceptualHash: r.perceptualHash! });
    }
    return out;
  } finally {
    await dir.remove();
  }
}
