import { describe, expect, it } from 'vitest';
import { PartialJsonStrings, partialJsonStrings } from '../../src/ai/partial-json.js';

const PATH = ['paragraphs', '*', 'text'] as const;

const story = {
  title: 'A "text" in the title',
  paragraphs: [
    { text: 'She was born in Lyon.\nShe said "hello" to everyone.', assetIds: ['a1'] },
    { text: 'Back\\slash, tab\there, caf\u00e9, emoji 🌻 and a /slash/.', assetIds: [] },
    { text: '', assetIds: ['a2'] },
  ],
  timeline: [{ date: '1962', title: 'text', description: 'not a paragraph', assetIds: [] }],
  themes: [{ name: 'text', description: null, assetIds: [] }],
};
/** JSON.stringify escapes only what it must; this form also escapes non-ASCII as \uXXXX. */
const asciiJson = JSON.stringify(story).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const texts = story.paragraphs.map((p) => p.text);

describe('partialJsonStrings', () => {
  it('reads every value at the path from complete JSON, and nothing elsewhere', () => {
    expect(partialJsonStrings(JSON.stringify(story), PATH)).toEqual(texts);
    expect(partialJsonStrings(asciiJson, PATH)).toEqual(texts);
    expect(partialJsonStrings(JSON.stringify(story, null, 2), PATH)).toEqual(texts);
  });

  it('decodes \\n, \\", \\\\, \\t, \\/ and \\uXXXX escapes, including surrogate pairs', () => {
    const json = '{"paragraphs":[{"text":"a\\nb \\"q\\" c\\\\d \\/ \\u00e9 \\ud83c\\udf3b \\t"}]}';
    expect(partialJsonStrings(json, PATH)).toEqual(['a\nb "q" c\\d / é 🌻 \t']);
  });

  it('returns the unterminated last string as far as it goes', () => {
    expect(partialJsonStrings('{"title":"T","paragraphs":[{"text":"Once upon', PATH)).toEqual(['Once upon']);
    expect(partialJsonStrings('{"title":"T","paragraphs":[{"text":"One."},{"text":"Two', PATH)).toEqual(['One.', 'Two']);
    expect(partialJsonStrings('{"title":"T","paragraphs":[{"text":"', PATH)).toEqual(['']);
  });

  it('holds back an escape that has not fully arrived', () => {
    expect(partialJsonStrings('{"paragraphs":[{"text":"a\\', PATH)).toEqual(['a']);
    expect(partialJsonStrings('{"paragraphs":[{"text":"a\\u00', PATH)).toEqual(['a']);
    // The first half of a surrogate pair is not shown on its own.
    expect(partialJsonStrings('{"paragraphs":[{"text":"a\\ud83c', PATH)).toEqual(['a']);
    expect(partialJsonStrings('{"paragraphs":[{"text":"a\\ud83c\\udf3b', PATH)).toEqual(['a🌻']);
  });

  it('gives nothing before the path is reached', () => {
    expect(partialJsonStrings('', PATH)).toEqual([]);
    expect(partialJsonStrings('{"title":"The text of', PATH)).toEqual([]);
    expect(partialJsonStrings('{"title":"x","paragraphs":[{"assetIds":["text"],"te', PATH)).toEqual([]);
    expect(partialJsonStrings('{"paragraphs":[{"text"', PATH)).toEqual([]);
  });

  it('does not take keys named like the path for values, nor values of other keys', () => {
    const json = '{"paragraphs":[{"assetIds":["text","paragraphs"],"text":"real","note":"text"}],"text":"top level"}';
    expect(partialJsonStrings(json, PATH)).toEqual(['real']);
  });

  it('skips a preface before the document and anything after it', () => {
    const json = 'Here you go: ```json\n{"paragraphs":[{"text":"Hi"}]}\n``` "trailing"';
    expect(partialJsonStrings(json, PATH)).toEqual(['Hi']);
  });

  it('fed one character at a time, only ever grows, and ends with the full values', () => {
    const reader = new PartialJsonStrings(PATH);
    let previous = '';
    let changes = 0;
    for (const c of asciiJson) {
      reader.push(c);
      const now = reader.values().join('\n\n');
      expect(now.startsWith(previous)).toBe(true);
      if (now !== previous) changes++;
      previous = now;
    }
    expect(reader.values()).toEqual(texts);
    expect(changes).toBeGreaterThan(20);
  });

  it('gives the same answer whatever the chunking', () => {
    const json = JSON.stringify(story);
    for (const size of [1, 2, 3, 5, 7, 16, 64]) {
      const reader = new PartialJsonStrings(PATH);
      for (let i = 0; i < json.length; i += size) reader.push(json.slice(i, i + size));
      expect(reader.values()).toEqual(texts);
    }
  });
});
