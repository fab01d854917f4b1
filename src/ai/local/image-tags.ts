import type { ImageHints, ImageTag } from '../ai.port.js';
import { type PictureReadOptions, pictureStats } from './picture.js';

/**
 * Whether a picture is a page of text (a scanned or photographed letter), from pixel statistics:
 * the fact the AI step needs to send a photo to OCR, whichever provider described it. What a
 * photo shows comes from the object model (objects.ts); colours, orientation and decade or
 * season were measured here once and are no longer tags or captions anyone sees.
 */

/** The picture is analysed at this size: enough to see lines of text. */
const ANALYSIS_SIDE = 512;
const DOCUMENT_TAG = 'document';

export interface LocalDescription {
  /** `document` with its confidence when the picture is a page of text; otherwise none. */
  tags: ImageTag[];
}

/** The caller OCRs pictures that look like a page of text. */
export function looksLikeDocument(tags: readonly ImageTag[]): boolean {
  return tags.some((t) => t.name === DOCUMENT_TAG && t.confidence >= 0.5);
}

/**
 * The picture is read in the sandbox (picture.ts): one that cannot be read, or meets its limits,
 * rejects with a non-retryable AiProviderError saying why. `hints` are not needed for the page
 * check; the parameter stays so callers pass what they know.
 */
export async function describeLocally(path: string, _hints: ImageHints, opts: PictureReadOptions = {}): Promise<LocalDescription> {
  const read = await pictureStats(path, ANALYSIS_SIDE, opts);
  const document = documentConfidence(pixelStats(read.raw));
  return { tags: document === null ? [] : [{ name: DOCUMENT_TAG, confidence: document }] };
}

// ---- Pixel statistics ----------------------------------------------------------------------

interface PixelStats {
  width: number;
  height: number;
  /** Per pixel, 0..1: luma and chroma (max − min of R, G, B). */
  luma: Float32Array;
  chroma: Float32Array;
}

function pixelStats(raw: { data: Uint8Array; width: number; height: number; channels: number }): PixelStats {
  const { data, width, height, channels } = raw;
  const n = width * height;
  const luma = new Float32Array(n);
  const chroma = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const r = (data[i * channels] ?? 0) / 255;
    const g = (data[i * channels + 1] ?? 0) / 255;
    const b = (data[i * channels + 2] ?? 0) / 255;
    luma[i] = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    chroma[i] = Math.max(r, g, b) - Math.min(r, g, b);
  }
  return { width, height, luma, chroma };
}

const mean = (values: Float32Array): number => values.reduce((sum, v) => sum + v, 0) / Math.max(1, values.length);

function percentile(values: Float32Array, p: number): number {
  const sorted = Float32Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
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
