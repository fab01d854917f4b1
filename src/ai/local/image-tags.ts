import type { ImageHints, ImageTag } from '../ai.port.js';
import { type PictureReadOptions, pictureStats } from './picture.js';

/**
 * Tags and a caption from what can be known about a picture without a model: when it was taken
 * (EXIF), its shape, and pixel statistics (tone, colours, whether it is a page of text). Nothing
 * here guesses at content; every tag is a measured fact with a measured confidence.
 */

/** The picture is analysed at this size: enough for statistics and to see lines of text. */
const ANALYSIS_SIDE = 512;
const DOCUMENT_TAG = 'document';
/** Near the equator "summer" and "winter" say nothing true. */
const TROPICS_LATITUDE = 10;

export interface LocalDescription {
  tags: ImageTag[];
  caption: string | null;
}

/** The caller OCRs pictures that look like a page of text. */
export function looksLikeDocument(tags: readonly ImageTag[]): boolean {
  return tags.some((t) => t.name === DOCUMENT_TAG && t.confidence >= 0.5);
}

/**
 * The picture is read in the sandbox (picture.ts): one that cannot be read, or meets its limits,
 * rejects with a non-retryable AiProviderError saying why.
 */
export async function describeLocally(path: string, hints: ImageHints, opts: PictureReadOptions = {}): Promise<LocalDescription> {
  const read = await pictureStats(path, ANALYSIS_SIDE, opts);
  // The pipeline's width and height are already upright; otherwise EXIF orientation is applied.
  const { width, height } = hints.width && hints.height ? { width: hints.width, height: hints.height } : read;
  const stats = pixelStats(read.raw);

  const tags: ImageTag[] = [];
  const decade = hints.dateTaken ? decadeOf(hints.dateTaken) : null;
  const season = hints.dateTaken ? seasonOf(hints.dateTaken, hints.latitude ?? null) : null;
  if (decade) tags.push({ name: decade, confidence: 1 });
  if (season) tags.push({ name: season, confidence: 1 });

  const document = documentConfidence(stats);
  // A page of text is low in colour too, but it is not a black-and-white photograph.
  const tone = document === null ? toneOf(stats) : null;
  if (tone) tags.push(tone);
  if (document !== null) tags.push({ name: DOCUMENT_TAG, confidence: document });

  const shape = orientation(width, height);
  if (shape) tags.push({ name: shape, confidence: 1 });
  const colours = dominantColours(stats);
  tags.push(...colours);

  return { tags, caption: caption({ decade, season, tone: tone?.name ?? null, document: document !== null, shape, colours }) };
}

// ---- Facts from the date and shape ---------------------------------------------------------

/** Dates are camera wall-clock times stored as UTC (see media/exif.ts), so UTC fields are read. */
function decadeOf(date: Date): string | null {
  const year = date.getUTCFullYear();
  return Number.isFinite(year) ? `${Math.floor(year / 10) * 10}s` : null;
}

const NORTHERN_SEASONS = ['winter', 'winter', 'spring', 'spring', 'spring', 'summer', 'summer', 'summer', 'autumn', 'autumn', 'autumn', 'winter'] as const;
const OPPOSITE: Record<string, string> = { winter: 'summer', summer: 'winter', spring: 'autumn', autumn: 'spring' };

/** Meteorological seasons; flipped south of the equator, none in the tropics. Unknown latitude counts as north. */
function seasonOf(date: Date, latitude: number | null): string | null {
  const month = date.getUTCMonth();
  if (!Number.isFinite(month)) return null;
  if (latitude !== null && Math.abs(latitude) < TROPICS_LATITUDE) return null;
  const north = NORTHERN_SEASONS[month] ?? null;
  return north && latitude !== null && latitude < 0 ? (OPPOSITE[north] ?? null) : north;
}

type Shape = 'portrait' | 'landscape' | 'square' | 'panorama';

/** Only wide pictures are panoramas: a tall one is usually a phone screenshot. */
function orientation(width: number, height: number): Shape | null {
  if (!(width > 0 && height > 0)) return null;
  const ratio = width / height;
  if (ratio > 2) return 'panorama';
  if (Math.abs(ratio - 1) <= 0.05) return 'square';
  return ratio > 1 ? 'landscape' : 'portrait';
}

// ---- Pixel statistics ----------------------------------------------------------------------

interface PixelStats {
  width: number;
  height: number;
  /** Per pixel, 0..1: luma, chroma (max − min of R, G, B) and hue in degrees (NaN when grey). */
  luma: Float32Array;
  chroma: Float32Array;
  hue: Float32Array;
  colour: ColourName[];
}

function pixelStats(raw: { data: Uint8Array; width: number; height: number; channels: number }): PixelStats {
  const { data } = raw;
  const info = raw;
  const n = info.width * info.height;
  const luma = new Float32Array(n);
  const chroma = new Float32Array(n);
  const hue = new Float32Array(n);
  const colour: ColourName[] = [];
  for (let i = 0; i < n; i++) {
    const r = (data[i * info.channels] ?? 0) / 255;
    const g = (data[i * info.channels + 1] ?? 0) / 255;
    const b = (data[i * info.channels + 2] ?? 0) / 255;
    const max = Math.max(r, g, b);
    const min = Math.min(r, g, b);
    const c = max - min;
    let h = Number.NaN;
    if (c > 0) {
      if (max === r) h = 60 * (((g - b) / c + 6) % 6);
      else if (max === g) h = 60 * ((b - r) / c + 2);
      else h = 60 * ((r - g) / c + 4);
    }
    luma[i] = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    chroma[i] = c;
    hue[i] = h;
    colour.push(nameColour(h, c, max, luma[i]!));
  }
  return { width: info.width, height: info.height, luma, chroma, hue, colour };
}

const mean = (values: Float32Array): number => values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);

function percentile(values: Float32Array, p: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const clamp = (n: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, n));

/**
 * "black and white": next to no colour anywhere. "sepia": nearly every pixel tinted, all with
 * one warm brown hue (a warm colour scene spreads over reds, oranges and yellows). Both need a
 * range of tones: a flat grey card is neither.
 */
function toneOf(stats: PixelStats): ImageTag | null {
  if (percentile(stats.luma, 0.95) - percentile(stats.luma, 0.05) < 0.15) return null;
  const meanChroma = mean(stats.chroma);
  const highChroma = percentile(stats.chroma, 0.95);
  if (meanChroma < 0.04 && highChroma < 0.12) {
    return { name: 'black and white', confidence: round2(clamp(1 - meanChroma / 0.08, 0.5, 1)) };
  }
  // Vivid colour is never a toned print.
  if (meanChroma > 0.4 || highChroma > 0.45) return null;
  const hues: number[] = [];
  for (let i = 0; i < stats.hue.length; i++) if ((stats.chroma[i] ?? 0) >= 0.03) hues.push(stats.hue[i] ?? Number.NaN);
  if (hues.length < stats.hue.length * 0.5) return null;
  const warm = hues.filter((h) => h >= 15 && h <= 60).length / hues.length;
  const sorted = Float32Array.from(hues).sort();
  const spread = (sorted[Math.floor(sorted.length * 0.9)] ?? 0) - (sorted[Math.floor(sorted.length * 0.1)] ?? 0);
  if (warm < 0.85 || spread > 20) return null;
  return { name: 'sepia', confidence: round2(clamp(warm - spread / 100, 0.5, 0.95)) };
}

/**
 * A page of text: mostly paper (light, little colour), a small share of ink darker than the
 * paper, and that ink lying in several horizontal bands (lines). Returns a confidence or null.
 */
function documentConfidence(stats: PixelStats): number | null {
  const paper = percentile(stats.luma, 0.5);
  if (paper < 0.6 || mean(stats.chroma) > 0.12) return null;
  const { width, height, luma } = stats;
  let ink = 0;
  let light = 0;
  const inkPerRow = new Array<number>(height).fill(0);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const l = luma[y * width + x] ?? 1;
      if (l < paper - 0.3) {
        ink++;
        inkPerRow[y]!++;
      } else if (l > paper - 0.15) light++;
    }
  }
  const total = width * height;
  const inkShare = ink / total;
  if (light / total < 0.6 || inkShare < 0.005 || inkShare > 0.25) return null;
  let bands = 0;
  let inBand = false;
  for (const count of inkPerRow) {
    const inked = count > width * 0.01;
    if (inked && !inBand) bands++;
    inBand = inked;
  }
  if (bands < 2) return null;
  return bands >= 4 ? 0.9 : 0.75;
}

// ---- Colours -------------------------------------------------------------------------------

type ColourName = 'red' | 'orange' | 'yellow' | 'green' | 'teal' | 'blue' | 'purple' | 'pink' | 'brown' | 'black' | 'white' | 'grey';

/** Each pixel quantised to the nearest everyday colour name, by hue, then by lightness. */
function nameColour(hue: number, chroma: number, max: number, luma: number): ColourName {
  if (max < 0.18) return 'black';
  if (chroma < 0.1) return luma < 0.2 ? 'black' : luma > 0.85 ? 'white' : 'grey';
  if (hue < 15 || hue >= 345) return luma > 0.7 ? 'pink' : max < 0.45 ? 'brown' : 'red';
  if (hue < 45) return max < 0.65 || chroma < 0.3 ? 'brown' : 'orange';
  if (hue < 70) return max < 0.5 ? 'brown' : 'yellow';
  if (hue < 165) return 'green';
  if (hue < 195) return 'teal';
  if (hue < 255) return 'blue';
  if (hue < 290) return 'purple';
  return max < 0.5 ? 'purple' : 'pink';
}

/** One to three colours covering at least a tenth of the picture each; confidence = share. */
function dominantColours(stats: PixelStats): ImageTag[] {
  const counts = new Map<ColourName, number>();
  for (const name of stats.colour) counts.set(name, (counts.get(name) ?? 0) + 1);
  const total = Math.max(1, stats.colour.length);
  const ranked = [...counts.entries()]
    .map(([name, count]) => ({ name, confidence: round2(count / total) }))
    .sort((a, b) => b.confidence - a.confidence || (a.name < b.name ? -1 : 1));
  return ranked.filter((tag, i) => i === 0 || tag.confidence >= 0.1).slice(0, 3);
}

// ---- Caption -------------------------------------------------------------------------------

interface CaptionFacts {
  decade: string | null;
  season: string | null;
  tone: string | null;
  document: boolean;
  shape: Shape | null;
  colours: ImageTag[];
}

const NEUTRAL = new Set(['black', 'white', 'grey']);

/** One plain sentence built only from the facts above; null when they say nothing worth a sentence. */
function caption(facts: CaptionFacts): string | null {
  const { decade, season, tone, document, shape, colours } = facts;
  if (document) return `A page of text${decade ? `, captured in the ${decade}` : ''}.`;
  const top = colours[0];
  // "Mostly grey" says nothing a reader could not guess; only real colours make the sentence.
  const colourWord = !tone && top && top.confidence >= 0.5 && !NEUTRAL.has(top.name) ? `mostly ${top.name}` : null;
  const adjectives = [tone === 'black and white' ? 'black-and-white' : tone, colourWord, shape === 'panorama' ? 'panoramic' : null].filter(
    (w): w is string => w !== null,
  );
  if (adjectives.length === 0 && !decade && !season) return null;
  const noun = [...adjectives, 'photograph'].join(' ');
  const article = /^[aeiou]/.test(noun) ? 'An' : 'A';
  let sentence = `${article} ${noun}`;
  if (decade) sentence += ` from the ${decade}`;
  if (season) sentence += `${decade ? ',' : ''} taken in ${season}`;
  return `${sentence}.`;
}
