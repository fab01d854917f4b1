import { writeFile } from 'node:fs/promises';
import { deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError } from '../../../src/ai/ai.port.js';
import { TesseractOcr, pdfPageImages } from '../../../src/ai/local/ocr.js';
import { waitUntil } from '../../jobs/jobs.contract.js';
import { pngClaiming } from '../../support/hostile-files.js';
import { assemblePdf, buildPdf } from '../../support/media.js';
import { mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';

/** A heap and WebAssembly cap far below what tesseract needs to load its English model and read a page. */
const TIGHT_MEMORY_MB = 16;

/** Signal 0 tests whether a process exists. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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

describe('TesseractOcr', () => {
  /** The engine process of each recognition that really started, in order. */
  let recognitions: number[] = [];
  const ocr = new TesseractOcr({ onRecognizing: (pid) => recognitions.push(pid) });
  let dir: MediaDir;
  let letter: Buffer;

  beforeAll(async () => {
    dir = await mediaDir();
    letter = await letterImage();
  });
  afterEach(() => {
    recognitions = [];
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

  it('reuses one engine process for every request, concurrent ones included', async () => {
    const results = await Promise.all([ocr.recognize({ image: letter }), ocr.recognize({ image: letter })]);
    for (const { text } of results) expectLetter(text);
    expect(recognitions).toHaveLength(2);
    expect(new Set(recognitions).size).toBe(1);
    expect(recognitions[0]).not.toBe(process.pid);
  });

  it('refuses to start once aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('worker shutting down'));
    await expect(ocr.recognize({ image: letter }, controller.signal)).rejects.toThrow('worker shutting down');
    expect(recognitions).toHaveLength(0);
  });

  it('when aborted mid-recognition, ends the engine process and starts a fresh one for the next job', async () => {
    const controller = new AbortController();
    const watching = new TesseractOcr({ onRecognizing: (pid) => (recognitions.push(pid), controller.abort(new Error('worker shutting down'))) });
    try {
      await expect(watching.recognize({ image: letter }, controller.signal)).rejects.toThrow('worker shutting down');
      const [aborted] = recognitions;
      // Killed at once; gone once the kernel and libuv have reaped it.
      await waitUntil(async () => !isAlive(aborted!), 'the aborted engine process has ended', 10_000);
      expectLetter((await watching.recognize({ image: letter })).text);
      expect(recognitions).toHaveLength(2);
      expect(recognitions[1]).not.toBe(aborted);
    } finally {
      await watching.close();
    }
  });

  it('a picture whose header claims 50,000×50,000 px is refused before it is decoded, and the engine goes on', async () => {
    const claimed = pngClaiming(await sharp({ create: { width: 64, height: 48, channels: 3, background: PAPER } }).png().toBuffer(), 50_000, 50_000);
    const refused = await ocr.recognize({ image: claimed }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(AiProviderError);
    expect(refused).toMatchObject({ retryable: false, message: expect.stringMatching(/larger than 100 megapixels/) });
    expectLetter((await ocr.recognize({ image: letter })).text);
  });

  it('a reading over its memory limit fails with a reason for people, not retried; the API process goes on', async () => {
    const tight = new TesseractOcr({ limits: { memoryMb: TIGHT_MEMORY_MB, nativeMemoryMb: 1536, timeoutMs: 120_000 } });
    try {
      const failed = await tight.recognize({ image: letter }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(AiProviderError);
      expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(new RegExp(`needs more than the ${TIGHT_MEMORY_MB} MB of memory`)) });
    } finally {
      await tight.close();
    }
    expectLetter((await ocr.recognize({ image: letter })).text);
  });

  it('a reading over its time limit is stopped and fails with a reason for people', async () => {
    const hasty = new TesseractOcr({ limits: { memoryMb: 1024, nativeMemoryMb: 1536, timeoutMs: 1 }, onRecognizing: (pid) => recognitions.push(pid) });
    try {
      const failed = await hasty.recognize({ image: letter }).catch((err: unknown) => err);
      expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(/takes longer than the 0 seconds one file may take/) });
    } finally {
      await hasty.close();
    }
  });

  it('an engine process killed mid-recognition fails that reading with a reason; the next one starts a new engine', async () => {
    const killing = new TesseractOcr({ onRecognizing: (pid) => (recognitions.push(pid), process.kill(pid, 'SIGKILL')) });
    try {
      const failed = await killing.recognize({ image: letter }).catch((err: unknown) => err);
      expect(failed).toMatchObject({ retryable: false, message: expect.stringMatching(/needs more than the 1024 MB of memory one file may use, or the OCR engine stops on it/) });
      expect(recognitions).toHaveLength(1);
    } finally {
      await killing.close();
    }
    expectLetter((await ocr.recognize({ image: letter })).text);
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
