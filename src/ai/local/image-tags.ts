import type { ImageHints, ImageTag } from '../ai.port.js';
import { type ColourImage, pageOfTextConfidence } from './page-image.js';
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
  return { tags: pageTags(read.raw) };
}

/**
 * The page check on a copy already decoded (about 512 px, upright, sRGB): paper with regular
 * lines of ink at one angle, judged on the page's own pixels, so a letter that is tilted,
 * shadowed or lies on a dark table is a page too (page-image.ts).
 */
export function pageTags(picture: ColourImage): ImageTag[] {
  const document = pageOfTextConfidence(picture);
  return document === 0 ? [] : [{ name: DOCUMENT_TAG, confidence: document }];
}
