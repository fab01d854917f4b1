import { writeFile } from 'node:fs/promises';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError, type ImageHints, type ImageTag } from '../../../src/ai/ai.port.js';
import { describeLocally, looksLikeDocument } from '../../../src/ai/local/image-tags.js';
import { readExif } from '../../support/exif.js';
import { jpegWithExif } from '../../support/media.js';
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

/** The classic sepia matrix (what photo apps apply), as a 3×3 recombination. */
const SEPIA: [[number, number, number], [number, number, number], [number, number, number]] = [
  [0.393, 0.769, 0.189],
  [0.349, 0.686, 0.168],
  [0.272, 0.534, 0.131],
];

/** An autumn wood: reds, oranges, golds and browns, every hue warm but many of them. */
async function autumn(): Promise<Buffer> {
  const leaves = ['#b8321e', '#d8641c', '#e8a830', '#7a4a22', '#c84820', '#f0c040', '#9a2a18', '#5a3418'];
  const blobs = Array.from({ length: 60 }, (_, i) => {
    const x = (i * 97) % 640;
    const y = (i * 53) % 480;
    return `<circle cx="${x}" cy="${y}" r="${30 + (i % 5) * 8}" fill="${leaves[i % leaves.length]}"/>`;
  }).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="640" height="480"><rect width="100%" height="100%" fill="#6a3a1a"/>${blobs}</svg>`;
  return sharp(Buffer.from(svg)).modulate({ saturation: 0.6 }).jpeg({ quality: 90 }).toBuffer();
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
const tag = (tags: ImageTag[], name: string): ImageTag | undefined => tags.find((t) => t.name === name);

describe('describeLocally', () => {
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

  describe('tone', () => {
    it('sees no tone in a colour photograph, and names its colours', async () => {
      const { tags } = await describeBytes(colour);
      expect(names(tags)).not.toContain('black and white');
      expect(names(tags)).not.toContain('sepia');
      expect(names(tags)).toContain('blue');
      expect(names(tags)).toContain('green');
    });

    it('tags a greyscale photograph "black and white", even stored as a colour JPEG', async () => {
      const grey = await sharp(colour).greyscale().toColourspace('srgb').jpeg().toBuffer();
      expect((await sharp(grey).metadata()).channels).toBe(3);
      const { tags, caption } = await describeBytes(grey);
      expect(tag(tags, 'black and white')?.confidence).toBeGreaterThanOrEqual(0.9);
      expect(names(tags)).not.toContain('sepia');
      expect(caption).toBe('A black-and-white photograph.');
    });

    it.each([
      ['the sepia matrix photo apps apply', (img: sharp.Sharp) => img.recomb(SEPIA)],
      ['a brown tint', (img: sharp.Sharp) => img.tint('#704214')],
      ['a faded print, tinted', (img: sharp.Sharp) => img.modulate({ saturation: 0.4, brightness: 1.1 }).tint('#a08060')],
    ])('tags a sepia-toned print "sepia", not "black and white" (%s)', async (_, tone) => {
      const sepia = await tone(sharp(colour)).jpeg().toBuffer();
      const { tags, caption } = await describeBytes(sepia);
      expect(tag(tags, 'sepia')?.confidence).toBeGreaterThanOrEqual(0.6);
      expect(names(tags)).not.toContain('black and white');
      expect(caption).toBe('A sepia photograph.');
    });

    it('does not call a warm colour photograph sepia: many warm hues are not one', async () => {
      const { tags } = await describeBytes(await autumn());
      expect(names(tags)).not.toContain('sepia');
      expect(names(tags)).not.toContain('black and white');
    });

    it('gives no tone to a flat grey card', async () => {
      const card = await sharp({ create: { width: 200, height: 200, channels: 3, background: '#808080' } }).png().toBuffer();
      const { tags, caption } = await describeBytes(card, {});
      expect(names(tags)).toEqual(['square', 'grey']);
      expect(caption).toBeNull();
    });
  });

  describe('shape', () => {
    it.each([
      [480, 640, 'portrait'],
      [640, 480, 'landscape'],
      [500, 510, 'square'],
      [1800, 600, 'panorama'],
      // 19.5:9, a phone screenshot: tall, but not a panorama.
      [1170, 2532, 'portrait'],
    ])('%i×%i is %s', async (w, h, shape) => {
      const { tags } = await describeBytes(await scene(w, h));
      expect(tag(tags, shape)).toEqual({ name: shape, confidence: 1 });
      expect(names(tags).filter((t) => ['portrait', 'landscape', 'square', 'panorama'].includes(t))).toEqual([shape]);
    });

    it('reads the shape upright, through the EXIF orientation', async () => {
      // Stored 640×480 but marked "turn 90°": people see a portrait.
      const { tags } = await describeLocally(await file(await jpegWithExif({ orientation: 6 }, 640, 480)), {});
      expect(names(tags)).toContain('portrait');
    });

    it('calls a panorama panoramic in the caption', async () => {
      const { caption } = await describeBytes(await sharp(await scene(1800, 600)).greyscale().jpeg().toBuffer());
      expect(caption).toBe('A black-and-white panoramic photograph.');
    });
  });

  describe('date', () => {
    async function fromExif(dateTimeOriginal: string, latitude: number): Promise<{ tags: ImageTag[]; caption: string | null }> {
      const path = await file(await jpegWithExif({ dateTimeOriginal, latitude, longitude: 10 }));
      const exif = await readExif(path);
      return describeLocally(path, { dateTaken: exif.dateTaken, latitude: exif.location?.latitude ?? null });
    }

    it('tags the decade and the northern season from the EXIF date, with full confidence', async () => {
      const { tags, caption } = await fromExif('1965:07:14 16:30:00', 51.5);
      expect(tags.slice(0, 2)).toEqual([
        { name: '1960s', confidence: 1 },
        { name: 'summer', confidence: 1 },
      ]);
      expect(caption).toMatch(/from the 1960s, taken in summer\.$/);
    });

    it('turns the seasons round south of the equator', async () => {
      expect(names((await fromExif('1965:07:14 16:30:00', -33.9)).tags)).toContain('winter');
      expect(names((await fromExif('1998:12:25 09:00:00', -37.8)).tags)).toEqual(expect.arrayContaining(['1990s', 'summer']));
      expect(names((await fromExif('1998:12:25 09:00:00', 48.8)).tags)).toContain('winter');
      expect(names((await fromExif('2003:04:02 09:00:00', 40)).tags)).toContain('spring');
      expect(names((await fromExif('2003:04:02 09:00:00', -40)).tags)).toContain('autumn');
    });

    it('names no season in the tropics, where there are none to speak of', async () => {
      const { tags } = await fromExif('1987:01:10 12:00:00', 1.35);
      expect(names(tags)).toContain('1980s');
      expect(names(tags).filter((t) => ['winter', 'spring', 'summer', 'autumn'].includes(t))).toEqual([]);
    });

    it('takes the season of the month as the camera wrote it, whatever the server zone', async () => {
      // 31 May 23:30 by the camera's clock: still spring in the north.
      const { tags } = await describeBytes(colour, { dateTaken: new Date(Date.UTC(1972, 4, 31, 23, 30)), latitude: 45 });
      expect(names(tags)).toEqual(expect.arrayContaining(['1970s', 'spring']));
    });

    it('puts the decade in the caption of a black-and-white photograph', async () => {
      const grey = await sharp(colour).greyscale().jpeg().toBuffer();
      const { caption } = await describeBytes(grey, { dateTaken: new Date(Date.UTC(1962, 7, 1)), latitude: 52 });
      expect(caption).toBe('A black-and-white photograph from the 1960s, taken in summer.');
    });
  });

  describe('documents', () => {
    it('tags a page of text "document" and says so in the caption', async () => {
      const { tags, caption } = await describeBytes(await textPage(), { dateTaken: new Date(Date.UTC(2021, 2, 3)) });
      expect(looksLikeDocument(tags)).toBe(true);
      expect(tag(tags, 'document')!.confidence).toBeGreaterThanOrEqual(0.75);
      expect(names(tags)).not.toContain('black and white');
      expect(caption).toBe('A page of text, captured in the 2020s.');
    });

    it('does not take photographs, plain paper or a black-and-white photo for documents', async () => {
      const blank = await sharp({ create: { width: 800, height: 1000, channels: 3, background: '#f6f3ec' } }).jpeg().toBuffer();
      for (const picture of [colour, blank, await sharp(colour).greyscale().jpeg().toBuffer()]) {
        expect(looksLikeDocument((await describeBytes(picture)).tags)).toBe(false);
      }
    });
  });

  describe('colours', () => {
    it('finds a mostly blue picture blue, with its share as confidence', async () => {
      const sea = await sharp({ create: { width: 400, height: 300, channels: 3, background: '#1f5fbf' } })
        .composite([{ input: { create: { width: 400, height: 60, channels: 3, background: '#ffffff' } }, top: 240, left: 0 }])
        .png()
        .toBuffer();
      const { tags, caption } = await describeBytes(sea, {});
      const colours = tags.filter((t) => !['landscape'].includes(t.name));
      expect(colours).toEqual([
        { name: 'blue', confidence: 0.8 },
        { name: 'white', confidence: 0.2 },
      ]);
      expect(caption).toBe('A mostly blue photograph.');
    });

    it.each([
      ['#d02020', 'red'],
      ['#f08020', 'orange'],
      ['#f0d020', 'yellow'],
      ['#30a030', 'green'],
      ['#20a0a0', 'teal'],
      ['#2040d0', 'blue'],
      ['#7030c0', 'purple'],
      ['#f070b0', 'pink'],
      ['#6b4423', 'brown'],
      ['#0a0a0a', 'black'],
      ['#fafafa', 'white'],
      ['#8a8a8a', 'grey'],
    ])('names %s %s', async (hex, name) => {
      const swatch = await sharp({ create: { width: 64, height: 48, channels: 3, background: hex } }).png().toBuffer();
      const { tags } = await describeBytes(swatch, {});
      expect(tags.at(-1)).toEqual({ name, confidence: 1 });
    });

    it('names at most three colours', async () => {
      const stripes = await sharp({ create: { width: 500, height: 100, channels: 3, background: '#d02020' } })
        .composite(['#30a030', '#2040d0', '#f0d020', '#fafafa'].map((c, i) => ({ input: { create: { width: 100, height: 100, channels: 3 as const, background: c } }, left: 100 * (i + 1), top: 0 })))
        .png()
        .toBuffer();
      const colours = (await describeBytes(stripes, {})).tags.filter((t) => t.name !== 'panorama' && t.name !== 'landscape');
      expect(colours).toHaveLength(3);
      for (const c of colours) expect(c.confidence).toBe(0.2);
    });
  });

  it('returns tags in a stable order and the same answer twice', async () => {
    const hints = { dateTaken: new Date(Date.UTC(1965, 6, 14)), latitude: 51.5 };
    const path = await file(await sharp(colour).greyscale().jpeg().toBuffer());
    const first = await describeLocally(path, hints);
    expect(await describeLocally(path, hints)).toEqual(first);
    expect(names(first.tags).slice(0, 4)).toEqual(['1960s', 'summer', 'black and white', 'landscape']);
  });

  it('refuses a file that is not a picture', async () => {
    await expect(describeLocally(await file(Buffer.from('not a picture'), 'bin'), {})).rejects.toBeInstanceOf(AiProviderError);
  });
});
