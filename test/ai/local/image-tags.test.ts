import { readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError, type ImageHints, type ImageTag } from '../../../src/ai/ai.port.js';
import { describeLocally, looksLikeDocument } from '../../../src/ai/local/image-tags.js';
import { DEFAULT_LETTERS, renderLetter } from '../../support/letters.js';
import { mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';

/**
 * A summer scene drawn as an SVG and rendered as a real JPEG: sky and clouds, hills with a dark
 * hedge, a sun, a red house.
 */
async function scene(width = 640, height = 480): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 640 480" preserveAspectRatio="none">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#2f6fd0"/><stop offset="1" stop-color="#9cc8f0"/></linearGradient>
    <linearGradient id="field" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#4cae46"/><stop offset="1" stop-color="#24601f"/></linearGradient></defs>
    <rect width="640" height="300" fill="url(#sky)"/>
    <ellipse cx="150" cy="70" rx="90" ry="28" fill="#ffffff"/><ellipse cx="330" cy="110" rx="70" ry="20" fill="#f4f6f8"/>
    <circle cx="520" cy="80" r="40" fill="#ffe45a"/>
    <path d="M0 260 Q160 200 320 250 T640 240 V480 H0 Z" fill="url(#field)"/>
    <path d="M300 250 Q400 215 520 238 L520 262 Q410 240 300 272 Z" fill="#12300f"/>
    <rect x="120" y="250" width="120" height="90" fill="#c8322a"/><path d="M110 250 L180 200 L250 250 Z" fill="#5a2a1a"/>
    <rect x="165" y="295" width="30" height="45" fill="#2a1a10"/></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

/** A typed page: dark lines of text on white paper, as a phone photographs a letter. */
async function textPage(): Promise<Buffer> {
  const lines = [
    'My dearest Rose,',
    'The apple tree is in bloom again and the garden',
    'smells of blossom all day long. Father has mended',
    'the fence by the lane, and the hens are laying well.',
    'We think of you every Sunday at church and hope',
    'the city is treating you kindly. Write soon.',
    'With all my love, Margaret',
  ];
  const text = lines.map((line, i) => `<text x="60" y="${110 + i * 44}">${line}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="800" height="1000">
    <rect width="100%" height="100%" fill="#f6f3ec"/>
    <g font-family="DejaVu Serif" font-size="24" fill="#222">${text}</g></svg>`;
  return sharp(Buffer.from(svg)).jpeg({ quality: 90 }).toBuffer();
}

const names = (tags: ImageTag[]): string[] => tags.map((t) => t.name);

describe('describeLocally: the page-of-text check', () => {
  let dir: MediaDir;
  let n = 0;
  const file = async (bytes: Buffer, ext = 'jpg'): Promise<string> => {
    const path = dir.path(`image-${++n}.${ext}`);
    await writeFile(path, bytes);
    return path;
  };
  const describeBytes = async (bytes: Buffer, hints: ImageHints = {}) => describeLocally(await file(bytes), hints);

  let colour: Buffer;
  beforeAll(async () => {
    dir = await mediaDir();
    colour = await scene();
  });
  afterAll(() => dir.remove());

  it('tags a page of text "document"', async () => {
    const { tags } = await describeBytes(await textPage(), { dateTaken: new Date(Date.UTC(2021, 2, 3)) });
    expect(looksLikeDocument(tags)).toBe(true);
    expect(tags).toEqual([{ name: 'document', confidence: expect.any(Number) }]);
    expect(tags[0]!.confidence).toBeGreaterThanOrEqual(0.75);
  });

  it('tags a tilted scan with dark corners, a shadowed page and a photographed letter "document" (the old check saw 5 of the 16 corpus letters)', async () => {
    for (const spec of DEFAULT_LETTERS) {
      const { tags } = await describeBytes((await renderLetter(spec)).jpeg);
      expect(looksLikeDocument(tags), spec.name).toBe(true);
    }
  });

  it('takes none of the real photos in face-api\'s demo folder for a document, in colour or grey', async () => {
    const demo = join(dirname(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json')), 'demo');
    for (const i of [1, 2, 3, 4, 5, 6]) {
      const photo = await readFile(join(demo, `sample${i}.jpg`));
      expect(looksLikeDocument((await describeBytes(photo)).tags), `sample${i}`).toBe(false);
      expect(looksLikeDocument((await describeBytes(await sharp(photo).greyscale().jpeg().toBuffer())).tags), `sample${i} in grey`).toBe(false);
    }
  });

  it('does not take photographs, plain paper or a black-and-white photo for documents', async () => {
    const blank = await sharp({ create: { width: 800, height: 1000, channels: 3, background: '#f6f3ec' } }).jpeg().toBuffer();
    for (const picture of [colour, blank, await sharp(colour).greyscale().jpeg().toBuffer()]) {
      expect(looksLikeDocument((await describeBytes(picture)).tags)).toBe(false);
    }
  });

  it('no longer measures colours, tone, orientation, decade or season as tags', async () => {
    // Once: "landscape", "blue", "green", "1960s", "summer"; and for the grey copy "black and white".
    const hints = { dateTaken: new Date(Date.UTC(1965, 6, 14)), latitude: 51.5, width: 640, height: 480 };
    for (const picture of [colour, await sharp(colour).greyscale().jpeg().toBuffer(), await sharp(colour).tint('#704214').jpeg().toBuffer()]) {
      const described = await describeBytes(picture, hints);
      expect(names(described.tags)).toEqual([]);
      expect(described).not.toHaveProperty('caption');
    }
  });

  it('gives the same answer twice', async () => {
    const path = await file(await textPage());
    const first = await describeLocally(path, {});
    expect(await describeLocally(path, {})).toEqual(first);
  });

  it('refuses a file that is not a picture', async () => {
    await expect(describeLocally(await file(Buffer.from('not a picture'), 'bin'), {})).rejects.toBeInstanceOf(AiProviderError);
  });
});
