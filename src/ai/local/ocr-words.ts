/**
 * What of tesseract's reading is text, and what is noise it read as letters. On a grainy or
 * stained scan tesseract also "reads" the grain: whole lines of two-letter nonsense ("Ee TT Te")
 * at low confidence, and specks at the ends of real lines ("©", "*", "Se"). Measured on the OCR
 * corpus (test/support/letters.ts): such lines average well under 40 % confidence, real lines over
 * 55 % even when they are grainy, and real words at a line's ends are read with confidence.
 */

export interface OcrWord {
  text: string;
  /** Tesseract's word confidence, 0..100. */
  confidence: number;
}

/** Paragraphs of lines of words, in reading order, as tesseract found them. */
export type OcrLayout = OcrWord[][][];

/** A line whose words average less than this is grain read as letters: left out whole. */
const MIN_LINE_CONFIDENCE = 50;
/** Doubtful words at the ends of a line are specks beside it: trimmed. */
const MIN_EDGE_CONFIDENCE = 50;
/** Inside a kept line a word this doubtful is still more likely noise than a misread word. */
const MIN_WORD_CONFIDENCE = 20;

export interface ReadableText {
  /** Lines joined by newlines, paragraphs by a blank line; '' when nothing was text. */
  text: string;
  /** Mean confidence of the words kept, 0..1; null when none were. */
  confidence: number | null;
  /** Words read and words kept. */
  read: number;
  kept: number;
}

const isWordLike = (text: string) => /[\p{L}\p{N}]/u.test(text);

export function readableText(layout: OcrLayout): ReadableText {
  let read = 0;
  let kept = 0;
  let confidence = 0;
  const paragraphs: string[] = [];
  for (const paragraph of layout) {
    const lines: string[] = [];
    for (const line of paragraph) {
      read += line.length;
      if (line.length === 0) continue;
      const mean = line.reduce((sum, w) => sum + w.confidence, 0) / line.length;
      if (mean < MIN_LINE_CONFIDENCE) continue;
      let words = line.filter((w) => w.text.trim() !== '' && w.confidence >= MIN_WORD_CONFIDENCE && isWordLike(w.text));
      const sure = (w: OcrWord) => w.confidence >= MIN_EDGE_CONFIDENCE;
      const first = words.findIndex(sure);
      const last = words.findLastIndex(sure);
      words = first < 0 ? [] : words.slice(first, last + 1);
      if (words.length === 0) continue;
      kept += words.length;
      for (const w of words) confidence += w.confidence;
      lines.push(words.map((w) => w.text.trim()).join(' '));
    }
    if (lines.length) paragraphs.push(lines.join('\n'));
  }
  return { text: paragraphs.join('\n\n'), confidence: kept ? confidence / kept / 100 : null, read, kept };
}
