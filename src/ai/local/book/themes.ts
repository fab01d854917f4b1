import type { StoryTheme } from '../../ai.port.js';
import { topKeywords } from '../story-keywords.js';
import type { Material } from './material.js';
import { count, listOf } from './wording.js';

const MAX_THEMES = 6;

interface Source {
  texts: string[];
  ids: string[];
  year: number | null;
  /** The place as the family typed it, lower case, or null. */
  place: string | null;
}

/**
 * Themes from what people wrote and said (letters, transcripts, captions, their own tags, places,
 * messages), each found on two occasions or more (an occasion: an event, one day and place, or a
 * memory on its own). Named as people wrote them ("Whitby", "church choir"); a word of the
 * memories' place beside another theme of exactly those memories is left out.
 */
export function themesOf(m: Material): StoryTheme[] {
  const sources: Source[] = [...m.life, ...m.after].map((e) => ({
    texts: [...e.quotes.map((q) => q.text), ...e.captions, ...e.ownTags, ...(e.place ? [e.place] : [])],
    ids: e.ids,
    year: e.when?.year ?? null,
    place: e.place?.toLowerCase() ?? null,
  }));
  // A message speaks of the memories it came with: it joins their event, so it is not a second witness.
  for (const msg of m.messages) {
    const home = sources.find((s) => s.ids.includes(msg.ids[0]!));
    if (home) home.texts.push(msg.text);
  }
  const names = [m.name, ...[...m.life, ...m.after].flatMap((e) => e.people)];
  const exclude = new Set(names.flatMap((n) => n.toLowerCase().split(/[^\p{L}]+/u)).filter(Boolean));
  // More candidates than are shown, so dropping a theme that repeats another leaves room for the next.
  const hits = topKeywords(sources.map((s) => s.texts), { max: MAX_THEMES * 2, minDocs: 2, exclude });
  const candidates = hits.map(({ keyword, docs }) => {
    const matched = docs.map((i) => sources[i]!);
    const assetIds = [...new Set(matched.flatMap((s) => s.ids))];
    // A word of the place these memories were made ("Whitby", "harbour" of "Whitby harbour") names where, not what.
    const ofPlace = matched.every((s) => s.place !== null && keyword.split(' ').every((w) => new RegExp(`(?<!\\p{L})${w}`, 'u').test(s.place!)));
    return { keyword, matched, assetIds, key: [...assetIds].sort().join(' '), ofPlace };
  });
  // Two themes of the same memories are both kept when they say different things ("choir" and
  // "apple tree" of one letter and one history); a place word beside another theme of exactly
  // those memories says only where they were, which the chapter already says, and goes.
  const themes: StoryTheme[] = [];
  const kept: typeof candidates = [];
  for (const c of candidates) {
    if (kept.length >= MAX_THEMES) break;
    const same = candidates.filter((o) => o !== c && o.key === c.key);
    if (c.ofPlace && same.some((o) => !o.ofPlace || kept.includes(o))) continue;
    kept.push(c);
    themes.push({ name: asWritten(c.keyword, c.matched), description: describe(c.matched), assetIds: c.assetIds });
  }
  return themes;
}

/** "On two occasions, in 1962 and 2020." — what the citations are, counted as they are. */
function describe(matched: readonly Source[]): string {
  const years = [...new Set(matched.flatMap((s) => (s.year === null ? [] : [s.year])))].sort((a, b) => a - b);
  const when = years.length === 0 ? '' : years.length <= 3 ? `, in ${listOf(years.map(String))}` : `, from ${years[0]} to ${years[years.length - 1]}`;
  return `In people's words on ${count(matched.length, ['one occasion', 'occasions'])}${when}.`;
}

/**
 * The keyword (lower case) as people wrote it: a word of it that is a name ("Whitby") keeps its
 * capital when it has one every time it is written; written in lower case anywhere, it is a word.
 */
function asWritten(keyword: string, matched: readonly Source[]): string {
  const words = keyword.split(' ').map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  // The keyword folds plurals ("trees" is "tree"): any form of it counts.
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])${words.join('s?\\s+')}s?(?![\\p{L}\\p{N}])`, 'giu');
  const forms = matched.flatMap((s) => s.texts.flatMap((t) => t.match(pattern) ?? [])).map((f) => f.split(/\s+/));
  // Word by word: "Whitby harbour" is a name and a word.
  const named = (i: number) => forms.length > 0 && forms.every((f) => /^\p{Lu}/u.test(f[i] ?? ''));
  return keyword
    .split(' ')
    .map((w, i) => (named(i) ? w.charAt(0).toUpperCase() + w.slice(1) : w))
    .join(' ');
}
