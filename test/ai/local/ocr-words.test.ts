import { describe, expect, it } from 'vitest';
import { type OcrWord, readableText } from '../../../src/ai/local/ocr-words.js';

/** Words as "text:confidence" (tesseract's 0..100), the way they were seen on grainy scans. */
const line = (spec: string): OcrWord[] =>
  spec.split(' ').map((w) => {
    const at = w.lastIndexOf(':');
    return { text: w.slice(0, at), confidence: Number(w.slice(at + 1)) };
  });

describe('readableText', () => {
  it('keeps a clean reading as it is, lines and paragraphs', () => {
    const read = readableText([[line('Dear:96 Rose,:95'), line('the:96 apple:95 tree:96')], [line('With:95 love,:96 Margaret:93')]]);
    expect(read.text).toBe('Dear Rose,\nthe apple tree\n\nWith love, Margaret');
    expect(read.confidence).toBeCloseTo(0.953, 2);
    expect([read.read, read.kept]).toEqual([8, 8]);
  });

  it('leaves out whole lines of grain read as letters', () => {
    // From a scan with heavy grain (noise spread 160): the real line, then the paper's grain.
    const read = readableText([
      [line('My:37 dearest:68 Thomas,:51 Father:91 has:95 mended:85 the:94 fence:51'), line('EIRENE:20 ene:8 el:33 Ee:11 EAT:41 EL:34 TE:32 GT:21'), line('CR:19 SRL:24 Ee:2 SE:14 Ce:16 a:8 Le:28')],
    ]);
    expect(read.text).toBe('dearest Thomas, Father has mended the fence');
  });

  it('trims specks beside a line, and symbols that are no word', () => {
    // A line as read from a grainy scan (noise spread 120).
    const read = readableText([[line('©:45 i":0 \'My:29 dearest:96 Thomas,:96 Father:95 has:95 mended:96 the:95 fence:95 by:96 the:97 lane:96 +:27 .:22 *:9 Se:29 3:36')]]);
    expect(read.text).toBe('dearest Thomas, Father has mended the fence by the lane');
  });

  it('keeps a doubtful word inside a good line (a misread word is still the word), drops a hopeless one', () => {
    const read = readableText([[line('church:74 and:74 hepe:39 the:96 ~:3 city:88 ov:14 is:90')]]);
    expect(read.text).toBe('church and hepe the city is');
  });

  it('is empty, with no confidence, when nothing was text', () => {
    expect(readableText([])).toEqual({ text: '', confidence: null, read: 0, kept: 0 });
    const grain = readableText([[line('ric:20'), line('Ee:15 TT:24 Te:9')]]);
    expect(grain).toMatchObject({ text: '', confidence: null, kept: 0 });
  });
});
