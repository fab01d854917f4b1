import sharp from 'sharp';

/**
 * A corpus of letters as scanners and phones deliver them, each with the text it holds: typed
 * pages in several fonts and lengths, rendered by sharp from SVG (fontconfig's fonts), then tilted,
 * laid on a dark scanner lid or table, shadowed, photographed at an angle, grainy and saved as
 * JPEG. Every picture is made from a seed, so a run sees the same corpus as the last one.
 *
 * `wordAccuracy` scores what an OCR engine read against the text.
 */

/** Letters a family might keep, in words only (no hyphenation, so a line break never splits one). */
const TEXTS = [
  'Dear Rose, the apple tree is in bloom again and the garden smells of blossom all day long. With love, Margaret',
  'My dearest Thomas, Father has mended the fence by the lane and the hens are laying well again. We think of you every Sunday at church and hope the city is treating you kindly. Mother sends her love and says you must eat properly and write to us more often than you do. Your loving sister, Ellen',
  'Dear Aunt Mary, thank you so much for the parcel, which arrived on Tuesday morning in perfect condition. The children wore their new scarves to school the very next day and have hardly taken them off since. We are all well here, although the winter has been long and the river flooded the lower field twice in January. John has found work at the mill again and starts on the first of March. The baby is walking now and gets into everything, so we have had to move the books to the top shelf. Please give our regards to Uncle Peter and tell him the old clock still keeps perfect time. With much love from all of us, Dorothy',
  'Dear Sir, I write to confirm that your mother, Mrs Anne Walker, has been a member of our congregation for more than forty years. She sang in the choir, taught at the Sunday school and organised the harvest supper every autumn. Yours faithfully, the Reverend James Hill',
  'Dearest Grace, the weather broke at last and we walked along the cliffs to the lighthouse on Saturday afternoon. The sea was calm and blue and we could see the boats coming home to the harbour. Your father bought fresh crab from the man by the pier and we ate it on the bench outside the little church. I wish you could have been with us. All my love, Mother',
  'To whom it may concern, this is to certify that William Brown worked for this company as a carpenter from the spring of 1952 until the summer of 1968. He was honest, careful and punctual, and his work was always of the highest standard. We recommend him without hesitation to any employer. Signed on behalf of the directors, Arthur Green',
];

/** Installed on these machines and in CI (fonts-dejavu); fontconfig picks a neighbour elsewhere. */
const FONTS = [
  { family: 'DejaVu Serif', style: 'normal', weight: 'normal', width: 0.56 },
  { family: 'DejaVu Sans', style: 'normal', weight: 'normal', width: 0.56 },
  { family: 'DejaVu Sans Mono', style: 'normal', weight: 'normal', width: 0.61 },
  { family: 'DejaVu Serif Condensed', style: 'italic', weight: 'normal', width: 0.5 },
  { family: 'DejaVu Sans', style: 'normal', weight: 'bold', width: 0.62 },
  { family: 'DejaVu Sans Condensed', style: 'normal', weight: 'normal', width: 0.5 },
] as const;

const PAPERS = ['#f6f3ec', '#f3ede0', '#ece4d2', '#fbfbf8', '#e9e2cf'];
const INKS = ['#222222', '#2a2620', '#1e2a44', '#3a3530'];

export interface LetterSpec {
  name: string;
  /** Index into the texts and fonts (taken modulo their counts). */
  text: number;
  font: number;
  /** Type size, px, on a page 1240 px wide (150 dpi A4: 12 pt is 25 px). */
  fontPx: number;
  /** Degrees, clockwise; 0 for a straight scan. */
  rotate?: number;
  /** The page lies on a dark lid or table with this much of it showing around the page (share of the page's width). */
  border?: number;
  /** Light falling off across the page to this fraction of full (a shadow, a lamp to one side). */
  shadow?: number;
  /** Grain: the spread of the noise added to each pixel, 0..255. */
  noise?: number;
  /** A photograph taken at an angle: how far (share of the side) the far corners come in. */
  perspective?: number;
  /** A phone's softness, px (Gaussian sigma). */
  blur?: number;
  /** JPEG quality, 60..90. */
  quality: number;
  seed: number;
}

export interface Letter {
  name: string;
  spec: LetterSpec;
  /** The text on the page, as written. */
  text: string;
  jpeg: Buffer;
}

/**
 * The default corpus: a clean scan of every font and length, then each damage alone and in the
 * combinations phones and home scanners really produce.
 */
export const DEFAULT_LETTERS: LetterSpec[] = [
  { name: 'clean-serif', text: 0, font: 0, fontPx: 26, quality: 90, seed: 1 },
  { name: 'clean-sans-long', text: 2, font: 1, fontPx: 22, quality: 85, seed: 2 },
  { name: 'clean-mono', text: 1, font: 2, fontPx: 22, quality: 80, seed: 3 },
  { name: 'tilt-1.5', text: 1, font: 0, fontPx: 24, rotate: 1.5, border: 0.04, quality: 85, seed: 4 },
  { name: 'tilt-minus-3', text: 3, font: 1, fontPx: 24, rotate: -3, border: 0.05, quality: 80, seed: 5 },
  { name: 'tilt-5-dark-corners', text: 4, font: 0, fontPx: 26, rotate: 5, border: 0.06, noise: 20, quality: 75, seed: 6 },
  { name: 'tilt-minus-7', text: 5, font: 4, fontPx: 24, rotate: -7, border: 0.08, quality: 80, seed: 7 },
  { name: 'shadow', text: 2, font: 0, fontPx: 22, shadow: 0.45, quality: 85, seed: 8 },
  { name: 'shadow-tilt-2', text: 4, font: 5, fontPx: 26, shadow: 0.5, rotate: 2, border: 0.05, quality: 75, seed: 9 },
  { name: 'noise', text: 1, font: 1, fontPx: 24, noise: 60, quality: 70, seed: 10 },
  { name: 'noise-tilt-minus-4', text: 3, font: 0, fontPx: 26, noise: 50, rotate: -4, border: 0.05, quality: 65, seed: 11 },
  { name: 'jpeg-60', text: 5, font: 3, fontPx: 26, quality: 60, noise: 16, seed: 12 },
  { name: 'photo-perspective', text: 0, font: 1, fontPx: 30, perspective: 0.06, border: 0.08, shadow: 0.7, blur: 0.8, quality: 80, seed: 13 },
  { name: 'photo-perspective-long', text: 2, font: 0, fontPx: 24, perspective: 0.05, rotate: 2.5, border: 0.07, shadow: 0.6, noise: 24, blur: 0.7, quality: 75, seed: 14 },
  { name: 'photo-condensed', text: 4, font: 5, fontPx: 28, perspective: 0.04, rotate: -1.5, border: 0.06, noise: 30, blur: 0.6, quality: 70, seed: 15 },
  { name: 'everything', text: 1, font: 4, fontPx: 26, rotate: 6, border: 0.07, shadow: 0.55, noise: 40, perspective: 0.03, blur: 0.6, quality: 65, seed: 16 },
];

/** `count` more letters with every parameter drawn from its range (for LETTERS_CORPUS=n runs). */
export function randomLetters(count: number, seed = 1000): LetterSpec[] {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const maybe = (p: number, value: () => number): number | undefined => (rnd() < p ? value() : undefined);
  return Array.from({ length: count }, (_, i) => {
    const rotate = maybe(0.7, () => (rnd() < 0.5 ? -1 : 1) * (1 + rnd() * 6));
    const perspective = maybe(0.3, () => 0.02 + rnd() * 0.05);
    return {
      name: `random-${i + 1}`,
      text: Math.floor(rnd() * TEXTS.length),
      font: Math.floor(rnd() * FONTS.length),
      fontPx: pick([22, 24, 26, 28, 30]),
      rotate: rotate === undefined ? undefined : Math.round(rotate * 10) / 10,
      border: rotate !== undefined || perspective !== undefined || rnd() < 0.3 ? 0.03 + rnd() * 0.06 : undefined,
      shadow: maybe(0.4, () => 0.45 + rnd() * 0.4),
      noise: maybe(0.5, () => Math.round(10 + rnd() * 50)),
      perspective,
      blur: perspective !== undefined ? 0.5 + rnd() * 0.4 : undefined,
      quality: Math.round(60 + rnd() * 30),
      seed: seed + i + 1,
    };
  });
}

const PAGE_WIDTH = 1240;
const MARGIN = 110;

export async function renderLetter(spec: LetterSpec): Promise<Letter> {
  const rnd = random(spec.seed);
  const text = TEXTS[spec.text % TEXTS.length]!;
  const font = FONTS[spec.font % FONTS.length]!;
  const paper = PAPERS[spec.seed % PAPERS.length]!;
  const ink = INKS[spec.seed % INKS.length]!;

  // The page: wrapped at a width the font surely fits, 1.5 lines apart, at least A5-ish in shape.
  const perLine = Math.floor((PAGE_WIDTH - 2 * MARGIN) / (spec.fontPx * font.width));
  const lines = wrap(text, perLine);
  const lineGap = Math.round(spec.fontPx * 1.55);
  const pageHeight = Math.max(Math.round(PAGE_WIDTH * 0.6), 2 * MARGIN + lines.length * lineGap);
  const rows = lines.map((line, i) => `<text x="${MARGIN}" y="${MARGIN + spec.fontPx + i * lineGap}">${escapeXml(line)}</text>`).join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${PAGE_WIDTH}" height="${pageHeight}">
    <rect width="100%" height="100%" fill="${paper}"/>
    <g font-family="${font.family}" font-style="${font.style}" font-weight="${font.weight}" font-size="${spec.fontPx}" fill="${ink}">${rows}</g></svg>`;
  let page = await sharp(Buffer.from(svg)).removeAlpha().raw().toBuffer({ resolveWithObject: true });

  if (spec.shadow !== undefined) page = { ...page, data: shade(page.data, page.info.width, page.info.height, spec.shadow, rnd) };

  // On the lid or table: dark, a little textured, the page off-centre.
  const lid = { r: 30 + Math.floor(rnd() * 40), g: 24 + Math.floor(rnd() * 30), b: 18 + Math.floor(rnd() * 25) };
  let image: RawImage = { data: page.data, width: page.info.width, height: page.info.height };
  if (spec.border !== undefined) {
    const pad = Math.round(spec.border * PAGE_WIDTH);
    const left = Math.round(pad * (0.5 + rnd()));
    const top = Math.round(pad * (0.5 + rnd()));
    const out = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
      .extend({ top, left, bottom: 2 * pad - top, right: 2 * pad - left, background: lid })
      .raw()
      .toBuffer({ resolveWithObject: true });
    image = { data: out.data, width: out.info.width, height: out.info.height };
  }
  if (spec.rotate) {
    // A crooked page on the glass: the corners the turn opens up are the lid's.
    const out = await sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } })
      .rotate(spec.rotate, { background: lid })
      .raw()
      .toBuffer({ resolveWithObject: true });
    image = { data: out.data, width: out.info.width, height: out.info.height };
  }
  if (spec.perspective !== undefined) image = warp(image, spec.perspective, lid, rnd);
  if (spec.noise !== undefined) image = { ...image, data: addNoise(image.data, spec.noise, rnd) };
  let out = sharp(Buffer.from(image.data), { raw: { width: image.width, height: image.height, channels: 3 } });
  if (spec.blur !== undefined) out = out.blur(Math.max(0.3, spec.blur));
  const jpeg = await out.jpeg({ quality: spec.quality, chromaSubsampling: '4:2:0' }).toBuffer();
  return { name: spec.name, spec, text, jpeg };
}

interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

function wrap(text: string, perLine: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > perLine) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines;
}

const escapeXml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * Light falling off across the page to `floor` of full: half the time gradually (a lamp to one
 * side), half the time behind a soft edge (the shadow of a hand or a phone held over the page).
 */
function shade(data: Buffer, width: number, height: number, floor: number, rnd: () => number): Buffer {
  const angle = rnd() * Math.PI * 2;
  const dx = Math.cos(angle);
  const dy = Math.sin(angle);
  const edge = rnd() < 0.5 ? null : { at: 0.35 + rnd() * 0.3, soft: 0.04 + rnd() * 0.08 };
  const out = Buffer.alloc(data.length);
  const half = Math.hypot(width, height) / 2;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // 0 on the lit side, 1 on the dark side.
      const t = Math.min(1, Math.max(0, (((x - width / 2) * dx + (y - height / 2) * dy) / half + 1) / 2));
      const dark = edge ? smoothstep(edge.at - edge.soft, edge.at + edge.soft, t) : t * t;
      const f = 1 - (1 - floor) * dark;
      const i = (y * width + x) * 3;
      out[i] = data[i]! * f;
      out[i + 1] = data[i + 1]! * f;
      out[i + 2] = data[i + 2]! * f;
    }
  }
  return out;
}

const smoothstep = (a: number, b: number, t: number) => {
  const u = Math.min(1, Math.max(0, (t - a) / (b - a)));
  return u * u * (3 - 2 * u);
};

/** Grain from the seed: the same every run, spread ± `spread` / 2 per channel, a little coloured. */
function addNoise(data: Buffer, spread: number, rnd: () => number): Buffer {
  const out = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i += 3) {
    // The sum of two uniforms: a softer, more photographic grain than one.
    const common = (rnd() + rnd() - 1) * spread;
    for (let c = 0; c < 3; c++) out[i + c] = clampByte(data[i + c]! + common + (rnd() - 0.5) * spread * 0.3);
  }
  return out;
}

const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));

/**
 * The page photographed from a little off square: its corners moved in by up to `amount` of the
 * side, so edges converge and lines of text fan out. Bilinear sampling through the homography
 * from the picture to the page; what falls outside the page is the table.
 */
function warp(image: RawImage, amount: number, table: { r: number; g: number; b: number }, rnd: () => number): RawImage {
  const { width: w, height: h, data } = image;
  const j = () => amount * (0.4 + 0.6 * rnd());
  // Where the page's corners land in the photograph (top-left, top-right, bottom-right, bottom-left).
  const farTop = rnd() < 0.5;
  const dst: [number, number][] = farTop
    ? [[j() * w, j() * h * 0.3], [w - j() * w, j() * h * 0.3], [w - j() * w * 0.2, h - j() * h * 0.2], [j() * w * 0.2, h - j() * h * 0.2]]
    : [[j() * w * 0.2, j() * h * 0.2], [w - j() * w * 0.2, j() * h * 0.2], [w - j() * w, h - j() * h * 0.3], [j() * w, h - j() * h * 0.3]];
  const src: [number, number][] = [[0, 0], [w, 0], [w, h], [0, h]];
  const H = homography(dst, src);
  const out = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = H[6]! * x + H[7]! * y + 1;
      const sx = (H[0]! * x + H[1]! * y + H[2]!) / d;
      const sy = (H[3]! * x + H[4]! * y + H[5]!) / d;
      const o = (y * w + x) * 3;
      if (sx < 0 || sy < 0 || sx > w - 1 || sy > h - 1) {
        out[o] = table.r;
        out[o + 1] = table.g;
        out[o + 2] = table.b;
        continue;
      }
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const x1 = Math.min(w - 1, x0 + 1);
      const y1 = Math.min(h - 1, y0 + 1);
      for (let c = 0; c < 3; c++) {
        const a = data[(y0 * w + x0) * 3 + c]!;
        const b = data[(y0 * w + x1) * 3 + c]!;
        const cc = data[(y1 * w + x0) * 3 + c]!;
        const dd = data[(y1 * w + x1) * 3 + c]!;
        out[o + c] = Math.round((a * (1 - fx) + b * fx) * (1 - fy) + (cc * (1 - fx) + dd * fx) * fy);
      }
    }
  }
  return { data: out, width: w, height: h };
}

/** The 3×3 projective map (h33 = 1) taking each `from` point to its `to` point, by Gaussian elimination. */
function homography(from: [number, number][], to: [number, number][]): number[] {
  const a: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i]!;
    const [u, v] = to[i]!;
    a.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    a.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  for (let col = 0; col < 8; col++) {
    let pivot = col;
    for (let r = col + 1; r < 8; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    for (let r = 0; r < 8; r++) {
      if (r === col) continue;
      const f = a[r]![col]! / a[col]![col]!;
      for (let c = col; c < 9; c++) a[r]![c]! -= f * a[col]![c]!;
    }
  }
  return a.map((row, i) => row[8]! / row[i]!);
}

/** xorshift32: a small, seeded, repeatable source of numbers in [0, 1). */
function random(seed: number): () => number {
  let s = seed * 0x9e3779b1 || 0x2545f491;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x1_0000_0000;
  };
}

// ---- Scoring -------------------------------------------------------------------------------

/** Lower case letters and digits; punctuation and layout are not what is being measured. */
export const wordsOf = (text: string): string[] =>
  text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, ' ')
    .trim()
    .split(' ')
    .filter((w) => w.length > 0);

export interface WordScore {
  /** Words in the reference. */
  words: number;
  /** Edits (substitutions, deletions, insertions) to turn what was read into the reference. */
  errors: number;
  /** 1 − errors / words, at least 0: a junk word read is as wrong as a word missed. */
  accuracy: number;
}

/** Word accuracy by the word-level edit distance between the reference and what was read. */
export function wordAccuracy(reference: string, read: string): WordScore {
  const ref = wordsOf(reference);
  const got = wordsOf(read);
  let prev = Array.from({ length: got.length + 1 }, (_, j) => j);
  for (let i = 1; i <= ref.length; i++) {
    const row = [i];
    for (let j = 1; j <= got.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (ref[i - 1] === got[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  const errors = prev[got.length]!;
  return { words: ref.length, errors, accuracy: ref.length ? Math.max(0, 1 - errors / ref.length) : got.length ? 0 : 1 };
}
