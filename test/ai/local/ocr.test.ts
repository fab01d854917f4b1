import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { Worker as ThreadWorker, type Transferable } from 'node:worker_threads';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AiProviderError } from '../../../src/ai/ai.port.js';
import { TesseractOcr, pdfPageImages } from '../../../src/ai/local/ocr.js';
import { assemblePdf, buildPdf } from '../../support/media.js';
import { mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';

const LETTER = ['Dear Rose,', 'The apple tree is in bloom again.', 'With love, Margaret'];
const PAPER = '#f3ede0';

/** A letter as a scanner sees it: serif ink on off-white paper, a little crooked, a little grainy. */
async function letterImage(fontPx = 32): Promise<Buffer> {
  const width = fontPx * 22;
  const height = fontPx * 9;
  const lines = LETTER.map((line, i) => `<text x="${fontPx * 2}" y="${fontPx * (3 + 2 * i)}">${line}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="${PAPER}"/>
    <g font-family="DejaVu Serif" font-size="${fontPx}" fill="#3a3530">${lines}</g></svg>`;
  const page = await sharp(Buffer.from(svg)).composite([{ input: await grain(width, height), blend: 'soft-light' }]).png().toBuffer();
  return sharp(page).rotate(1.2, { background: PAPER }).png().toBuffer();
}

/**
 * Paper grain: grey noise around mid-grey from a fixed seed (sharp's own noise is random, and a
 * test must see the same picture every run).
 */
function grain(width: number, height: number, spread = 48): Promise<Buffer> {
  let seed = 0x2545f491;
  const pixels = Buffer.alloc(width * height);
  for (let i = 0; i < pixels.length; i++) {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    pixels[i] = 128 + Math.round((((seed >>> 0) % 1000) / 1000 - 0.5) * spread);
  }
  return sharp(pixels, { raw: { width, height, channels: 1 } }).toColourspace('srgb').png().toBuffer();
}

/** Lower case, letters and spaces only: OCR may drop or swap a comma. */
const words = (text: string): string => text.toLowerCase().replace(/[^a-z]+/g, ' ').trim();

function expectLetter(text: string): void {
  const read = words(text);
  expect(read).toContain('dear rose');
  expect(read).toContain('the apple tree is in bloom again');
  expect(read).toContain('with love margaret');
}

interface ScanPage {
  /** How the scanner stored the picture. */
  encoding: 'grey-flate' | 'rgb-jpeg' | 'bilevel-flate';
  image: Buffer;
}

/**
 * A scanned PDF written by hand, like buildPdf's 'scan' pages but with real page pictures: one
 * image XObject per page filling the page, and no text layer.
 */
async function scannedPdf(pages: ScanPage[]): Promise<Buffer> {
  const objects: Buffer[] = [];
  const add = (body: string | Buffer): number => objects.push(Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1'));
  const stream = (dict: string, data: Buffer): Buffer =>
    Buffer.concat([Buffer.from(`<< ${dict} /Length ${data.length} >>\nstream\n`, 'latin1'), data, Buffer.from('\nendstream')]);
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add(''); // the page tree, once the kids are known
  const kids: number[] = [];
  for (const { encoding, image } of pages) {
    const grey = await sharp(image).greyscale().raw().toBuffer({ resolveWithObject: true });
    const { width: w, height: h } = grey.info;
    const size = `/Type /XObject /Subtype /Image /Width ${w} /Height ${h}`;
    let xobject: Buffer;
    if (encoding === 'grey-flate') {
      xobject = stream(`${size} /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode`, deflateSync(grey.data));
    } else if (encoding === 'rgb-jpeg') {
      const jpeg = await sharp(image).toColourspace('srgb').jpeg({ quality: 85 }).toBuffer();
      xobject = stream(`${size} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode`, jpeg);
    } else {
      xobject = stream(`${size} /ColorSpace /DeviceGray /BitsPerComponent 1 /Filter /FlateDecode`, deflateSync(packBits(grey.data, w, h)));
    }
    const im = add(xobject);
    const contents = add(stream('', Buffer.from(`q ${w} 0 0 ${h} 0 0 cm /Im1 Do Q`, 'latin1')));
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${w} ${h}] /Resources << /XObject << /Im1 ${im} 0 R >> >> /Contents ${contents} 0 R >>`));
  }
  objects[1] = Buffer.from(`<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`);
  return assemblePdf(objects);
}

/** Thresholded to 1 bit per pixel, rows padded to whole bytes, 1 = white (DeviceGray). */
function packBits(grey: Buffer, width: number, height: number): Buffer {
  const rowBytes = (width + 7) >> 3;
  const out = Buffer.alloc(rowBytes * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if ((grey[y * width + x] ?? 0) >= 140) out[y * rowBytes + (x >> 3)]! |= 0x80 >> (x & 7);
    }
  }
  return out;
}

/**
 * Watches tesseract.js hand recognition jobs to its worker threads (it posts `{ action:
 * 'recognize' }`), so tests can tell threads apart and act once a job is really running.
 */
function watchRecognize(onPosted?: () => void): { seen: ThreadWorker[]; exited: Map<ThreadWorker, Promise<unknown>> } {
  const seen: ThreadWorker[] = [];
  const exited = new Map<ThreadWorker, Promise<unknown>>();
  const post = ThreadWorker.prototype.postMessage;
  vi.spyOn(ThreadWorker.prototype, 'postMessage').mockImplementation(function (this: ThreadWorker, message: unknown, transfer?: readonly Transferable[]) {
    post.call(this, message, transfer);
    if ((message as { action?: string } | null)?.action !== 'recognize') return;
    seen.push(this);
    if (!exited.has(this)) exited.set(this, once(this, 'exit'));
    onPosted?.();
  });
  return { seen, exited };
}

describe('TesseractOcr', () => {
  const ocr = new TesseractOcr();
  let dir: MediaDir;
  let letter: Buffer;

  beforeAll(async () => {
    dir = await mediaDir();
    letter = await letterImage();
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await ocr.close();
    await dir.remove();
  });

  it('reads a scanned letter from a file, with a word confidence between 0 and 1', async () => {
    const path = dir.path('letter.png');
    await writeFile(path, letter);
    const result = await ocr.recognize({ path });
    expectLetter(result.text);
    expect(result.confidence).toBeGreaterThan(0.6);
    expect(result.confidence).toBeLessThanOrEqual(1);
  });

  it('keeps lines but not layout whitespace', async () => {
    const { text } = await ocr.recognize({ image: letter });
    expect(text).not.toMatch(/[ \t]{2,}|^\s|\s$|\n{3,}/);
    expect(text.split('\n')).toHaveLength(3);
  });

  it('upscales small print before reading it', async () => {
    // 8 px type, an x-height of about 4 px: tesseract given this picture as it is reads
    // "Dear ose. / TR —"; scaled up first, it reads every word.
    const { text } = await ocr.recognize({ image: await letterImage(8) });
    expectLetter(text);
  });

  it('reads a letter photographed on a dark table (the table is not a line of text)', async () => {
    const table = await sharp({ create: { width: 944, height: 528, channels: 3, background: '#3b2816' } })
      .composite([{ input: await grain(944, 528, 40), blend: 'soft-light' }, { input: letter, top: 120, left: 120 }])
      .png()
      .toBuffer();
    expectLetter((await ocr.recognize({ image: table })).text);
  });

  it('reads a photographed letter in colour, with an alpha channel', async () => {
    const rgba = await sharp(letter).tint('#8090c0').ensureAlpha().png().toBuffer();
    expect((await sharp(rgba).metadata()).channels).toBe(4);
    expectLetter((await ocr.recognize({ image: rgba })).text);
  });

  it('returns empty text and no confidence for a blank page', async () => {
    const blank = await sharp({ create: { width: 600, height: 400, channels: 3, background: PAPER } }).png().toBuffer();
    expect(await ocr.recognize({ image: blank })).toEqual({ text: '', confidence: null });
  });

  it('refuses bytes that are not an image, and keeps working afterwards', async () => {
    await expect(ocr.recognize({ image: Buffer.from('not an image at all') })).rejects.toBeInstanceOf(AiProviderError);
    expectLetter((await ocr.recognize({ image: letter })).text);
  });

  it('reuses one worker thread for every request, concurrent ones included', async () => {
    const threads = watchRecognize();
    const results = await Promise.all([ocr.recognize({ image: letter }), ocr.recognize({ image: letter })]);
    for (const { text } of results) expectLetter(text);
    expect(threads.seen).toHaveLength(2);
    expect(new Set(threads.seen).size).toBe(1);
  });

  it('refuses to start once aborted', async () => {
    const threads = watchRecognize();
    const controller = new AbortController();
    controller.abort(new Error('worker shutting down'));
    await expect(ocr.recognize({ image: letter }, controller.signal)).rejects.toThrow('worker shutting down');
    expect(threads.seen).toHaveLength(0);
  });

  it('when aborted mid-recognition, ends the worker thread and starts a fresh one for the next job', async () => {
    const controller = new AbortController();
    const threads = watchRecognize(() => controller.abort(new Error('worker shutting down')));
    await expect(ocr.recognize({ image: letter }, controller.signal)).rejects.toThrow('worker shutting down');
    const [aborted] = threads.seen;
    await threads.exited.get(aborted!);
    expectLetter((await ocr.recognize({ image: letter })).text);
    expect(threads.seen).toHaveLength(2);
    expect(threads.seen[1]).not.toBe(aborted);
  });

  it('reads every page of a scanned PDF: grey, JPEG and 1-bit scans', async () => {
    const path = dir.path('scan.pdf');
    await writeFile(
      path,
      await scannedPdf([
        { encoding: 'grey-flate', image: letter },
        { encoding: 'rgb-jpeg', image: letter },
        { encoding: 'bilevel-flate', image: letter },
      ]),
    );
    const pages = await pdfPageImages(path);
    expect(pages).toHaveLength(3);
    const { width, height } = await sharp(letter).metadata();
    for (const png of pages) {
      const meta = await sharp(png).metadata();
      expect(meta.format).toBe('png');
      expect([meta.width, meta.height]).toEqual([width, height]);
      expectLetter((await ocr.recognize({ image: png })).text);
    }
  });

  it('stops after maxPages pages', async () => {
    const path = dir.path('long-scan.pdf');
    await writeFile(path, await scannedPdf([1, 2, 3].map(() => ({ encoding: 'grey-flate' as const, image: letter }))));
    expect(await pdfPageImages(path, 2)).toHaveLength(2);
  });

  it('finds no page images in a PDF that has only text, or only a speck of a picture', async () => {
    const path = dir.path('typed.pdf');
    await writeFile(path, buildPdf([['A typed page'], 'scan'])); // buildPdf's scan is a 2×2 picture
    expect(await pdfPageImages(path)).toEqual([]);
  });

  it('refuses a file that is not a PDF', async () => {
    const path = dir.path('not.pdf');
    await writeFile(path, 'plain words, no PDF');
    await expect(pdfPageImages(path)).rejects.toBeInstanceOf(AiProviderError);
  });
});
