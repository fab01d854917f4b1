import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { analysePage, evenLight, type GreyImage, pageOfTextConfidence, prepareScan } from '../../../src/ai/local/page-image.js';
import { DEFAULT_LETTERS, type Letter, renderLetter } from '../../support/letters.js';

/**
 * The page arithmetic before OCR, on letters from the corpus generator (test/support/letters.ts)
 * and on real photographs (face-api's demo pictures): the tilt found, the lid or table told from
 * the page, a page of text told from a photo, and the page as tesseract is given it.
 */

const require = createRequire(import.meta.url);
const DEMO = join(dirname(require.resolve('@vladmandic/face-api/package.json')), 'demo');
const PHOTOS = [1, 2, 3, 4, 5, 6].map((i) => join(DEMO, `sample${i}.jpg`));

/** Grey and at most `side` px, as prepareScan analyses a page (1000) and the picture tags see one (512). */
async function grey(input: string | Buffer, side: number): Promise<GreyImage> {
  const { data, info } = await sharp(input).rotate().greyscale().resize({ width: side, height: side, fit: 'inside' }).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

async function colour(input: string | Buffer, side = 512) {
  const { data, info } = await sharp(input).rotate().resize({ width: side, height: side, fit: 'inside' }).flatten({ background: '#ffffff' }).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, channels: info.channels };
}

describe('page images', () => {
  const letters = new Map<string, Letter>();
  beforeAll(async () => {
    for (const spec of DEFAULT_LETTERS) letters.set(spec.name, await renderLetter(spec));
  });
  const letter = (name: string) => letters.get(name)!;

  it('finds how far a page is tilted, either way, within a quarter of a degree', async () => {
    const tilted = DEFAULT_LETTERS.filter((s) => s.rotate && !s.perspective);
    expect(tilted.length).toBeGreaterThanOrEqual(6);
    for (const spec of tilted) {
      const layout = analysePage(await grey(letter(spec.name).jpeg, 1000));
      // The turn that levels the lines undoes the tilt.
      expect(Math.abs(layout.rotate + spec.rotate!), spec.name).toBeLessThan(0.25);
    }
    expect(Math.abs(analysePage(await grey(letter('clean-serif').jpeg, 1000)).rotate)).toBeLessThan(0.25);
  });

  it('tells the dark lid around a page from the page, and a shadow on the page from a lid', async () => {
    const onLid = analysePage(await grey(letter('tilt-5-dark-corners').jpeg, 1000));
    // About 70 % of the picture is paper (the rest the lid and the corners the tilt opened up).
    expect(onLid.pageShare).toBeGreaterThan(0.5);
    expect(onLid.pageShare).toBeLessThan(0.85);
    const straight = analysePage(await grey(letter('clean-sans-long').jpeg, 1000));
    expect(straight.pageShare).toBe(1);
    // Half the page in shadow, nothing around it: nothing is taken for a lid.
    const shadowed = analysePage(await grey(letter('shadow').jpeg, 1000));
    expect(shadowed.pageShare).toBe(1);
    expect(shadowed.lines).toBeGreaterThanOrEqual(8);
  });

  it('counts the lines of text and measures their height', async () => {
    const layout = analysePage(await grey(letter('clean-sans-long').jpeg, 1000));
    // 9 lines of 22 px type on a page 1240 px wide, seen at 1000 px.
    expect(layout.lines).toBeGreaterThanOrEqual(8);
    expect(layout.lines).toBeLessThanOrEqual(9);
    expect(layout.lineHeight).toBeGreaterThan(10);
    expect(layout.lineHeight).toBeLessThan(22);
    expect(layout.regular).toBe(true);
  });

  it('takes every letter of the corpus for a page of text: straight, tilted, on a dark lid, shadowed, photographed', async () => {
    for (const [name, l] of letters) expect(pageOfTextConfidence(await colour(l.jpeg)), name).toBeGreaterThanOrEqual(0.75);
  });

  it('takes no photograph for a page of text, in colour or in black and white', async () => {
    for (const path of PHOTOS) {
      expect(pageOfTextConfidence(await colour(path)), path).toBe(0);
      expect(pageOfTextConfidence(await colour(await sharp(path).greyscale().jpeg().toBuffer())), `${path} in grey`).toBe(0);
    }
  });

  it('takes a blank or grainy sheet for no page of text', async () => {
    const blank = await sharp({ create: { width: 800, height: 600, channels: 3, background: '#f3ede0' } }).jpeg().toBuffer();
    expect(pageOfTextConfidence(await colour(blank))).toBe(0);
    const noise = Buffer.alloc(800 * 600 * 3);
    let seed = 12345;
    for (let i = 0; i < noise.length; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      noise[i] = 180 + ((seed >>> 0) % 70) - 35;
    }
    expect(pageOfTextConfidence(await colour(await sharp(noise, { raw: { width: 800, height: 600, channels: 3 } }).jpeg().toBuffer()))).toBe(0);
  });

  it('evens out light falling off across a page', () => {
    const width = 400;
    const height = 300;
    const data = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data[y * width + x] = Math.round(240 * (1 - 0.55 * (x / width) ** 2));
    const even = evenLight({ data, width, height }, 4);
    const inside = Array.from(even).filter((_, i) => i % width > 20 && i % width < width - 20);
    expect(Math.min(...inside)).toBeGreaterThan(235);
  });

  it('gives tesseract the page only: cropped to the paper, the lid gone, the lines level, black on white', async () => {
    const { jpeg, spec } = letter('tilt-minus-7');
    const prepared = await prepareScan(jpeg, 100_000_000);
    expect(prepared.layout.rotate).toBeCloseTo(7, 0);
    const { data, info } = await sharp(prepared.png).greyscale().raw().toBuffer({ resolveWithObject: true });
    const original = await sharp(jpeg).metadata();
    // Cropped to the page: narrower than the picture once scaled back.
    expect(prepared.crop.width).toBeLessThan(original.width!);
    // Not a dark pixel along the picture's edges: the lid is not there to be read as text.
    const edge: number[] = [];
    for (let x = 0; x < info.width; x++) edge.push(data[x]!, data[(info.height - 1) * info.width + x]!);
    for (let y = 0; y < info.height; y++) edge.push(data[y * info.width]!, data[y * info.width + info.width - 1]!);
    expect(Math.min(...edge)).toBeGreaterThan(200);
    // Black and white: ink is some of the page, paper most of it.
    const black = data.filter((v) => v < 128).length / data.length;
    expect(black).toBeGreaterThan(0.005);
    expect(black).toBeLessThan(0.15);
    // Its lines are level now: measured again, no tilt is left.
    expect(Math.abs(analysePage(await grey(prepared.png, 1000)).rotate)).toBeLessThan(0.3);
    expect(spec.rotate).toBe(-7);
  });
});
