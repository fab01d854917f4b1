import { describe, expect, it } from 'vitest';
import { extractKeywords } from '../../../src/ai/local/keywords.js';

/** What a family says about Grandma, transcribed as people speak. */
const TRANSCRIPTS = [
  "Um, so, Grandma Rose, she had this apple tree in the garden, and every autumn we'd, uh, pick the apples together. Yeah.",
  "I remember the apple tree. She'd bake apple pie on Sundays, you know, and the whole kitchen smelled of cinnamon.",
  'Grandma was always in the garden. Like, really, always. The roses, the apple tree, the vegetable garden behind the shed.',
  "Grandma's kitchen was the warmest room in the house. We played cards at the kitchen table after the pie.",
];

const keywords = (texts: string[], max?: number): string[] => extractKeywords(texts, max).map((k) => k.keyword);

describe('extractKeywords', () => {
  it('finds what the family keeps coming back to, best first', () => {
    expect(extractKeywords(TRANSCRIPTS, 6)).toEqual([
      // Three times, in three memories: 1.5 × 3 + 2.
      { keyword: 'apple tree', score: 6.5 },
      // "Grandma's" is Grandma.
      { keyword: 'grandma', score: 5 },
      { keyword: 'garden', score: 4 },
      { keyword: 'kitchen', score: 4 },
      // "apples" and "apple pie" (not "apple tree", which counts for the phrase); "apple" and "pie" tie.
      { keyword: 'apple', score: 3 },
      { keyword: 'pie', score: 3 },
    ]);
  });

  it('drops stopwords, spoken fillers, short words and numbers', () => {
    const found = keywords(['Um, uh, yeah, like, I just really know we got going in 1962, at 42 Elm Street, by the sea.', 'Elm Street again.'], 50);
    for (const dropped of ['um', 'uh', 'yeah', 'like', 'just', 'really', 'know', 'got', 'going', 'the', 'by', 'at', 'in', '1962', '42']) {
      expect(found).not.toContain(dropped);
    }
    expect(found).toContain('elm street');
  });

  it('folds plurals into a singular that is also said, and only then', () => {
    const found = extractKeywords(['The trees by the lake.', 'That tree! Her stories, one story after another.', 'Glasses on, always.'], 20);
    expect(found.find((k) => k.keyword === 'tree')?.score).toBe(3);
    expect(found.find((k) => k.keyword === 'story')?.score).toBe(2);
    // No "glass" was said: "glasses" stays as it is (and "lake" is not a plural of anything).
    expect(found.map((k) => k.keyword)).toEqual(expect.arrayContaining(['glasses', 'lake']));
    expect(found.map((k) => k.keyword)).not.toEqual(expect.arrayContaining(['trees', 'stories', 'glass']));
  });

  it('keeps a two-word phrase said twice, and stops counting its words for it', () => {
    const found = extractKeywords(['We sat under the apple tree.', 'The apple tree fell in the storm; the tree was old.'], 10);
    expect(found).toEqual([
      { keyword: 'apple tree', score: 4 },
      { keyword: 'fell', score: 1 },
      { keyword: 'old', score: 1 },
      { keyword: 'sat', score: 1 },
      { keyword: 'storm', score: 1 },
      { keyword: 'tree', score: 1 },
    ]);
  });

  it('does not join words across a sentence, a filler or a stopword', () => {
    const found = keywords(['Apple. Tree. Apple. Tree.', 'apple, uh, tree and apple um tree', 'apple and tree'], 20);
    expect(found).not.toContain('apple tree');
  });

  it('scores a word said in several memories above one said as often in a single memory', () => {
    const found = extractKeywords(['Boats, boats, boats: he loved boats.', 'The bicycle.', 'His bicycle.', 'A bicycle.'], 2);
    expect(found).toEqual([
      { keyword: 'bicycle', score: 5 },
      // Never "boat": nobody said the singular.
      { keyword: 'boats', score: 4 },
    ]);
  });

  it('handles any script, accents and curly apostrophes, in lower case', () => {
    const found = keywords(['Zoë’s café in Kraków, and Zoë again.', 'CAFÉ Kraków'], 10);
    expect(found).toEqual(expect.arrayContaining(['zoë', 'café', 'kraków']));
    expect(found).not.toContain('zoë’s');
  });

  it('is deterministic: ties are ordered alphabetically and the input order does not matter', () => {
    const texts = ['Rabbit, otter, badger.', 'Badger and the otter and the rabbit.'];
    expect(keywords(texts)).toEqual(['badger', 'otter', 'rabbit']);
    expect(extractKeywords([...texts].reverse())).toEqual(extractKeywords(texts));
  });

  it('returns nothing for nothing, and never more than asked', () => {
    expect(extractKeywords([])).toEqual([]);
    expect(extractKeywords(['', '  ', 'um, uh, yeah.'])).toEqual([]);
    expect(extractKeywords(TRANSCRIPTS, 3)).toHaveLength(3);
    expect(extractKeywords(TRANSCRIPTS)).toHaveLength(10);
    expect(extractKeywords(TRANSCRIPTS, 0)).toEqual([]);
  });
});
