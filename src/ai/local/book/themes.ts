import type { StoryTheme } from '../../ai.port.js';
import { topKeywords } from '../story-keywords.js';
import type { Material } from './material.js';

/** Themes from what people wrote and said (letters, transcripts, captions, their own tags, places, messages), each in two events or more. */
export function themesOf(m: Material): StoryTheme[] {
  const sources: { texts: string[]; ids: string[]; year: number | null }[] = [
    ...[...m.life, ...m.after].map((e) => ({
      texts: [...e.quotes.map((q) => q.text), ...e.captions, ...e.ownTags, ...(e.place ? [e.place] : [])],
      ids: e.ids,
      year: e.when?.year ?? null,
    })),
  ];
  // A message speaks of the memories it came with: it joins their event, so it is not a second witness.
  for (const msg of m.messages) {
    const home = sources.find((s) => s.ids.includes(msg.ids[0]!));
    if (home) home.texts.push(msg.text);
  }
  const names = [m.name, ...[...m.life, ...m.after].flatMap((e) => e.people)];
  const exclude = new Set(names.flatMap((n) => n.toLowerCase().split(/[^\p{L}]+/u)).filter(Boolean));
  const hits = topKeywords(sources.map((s) => s.texts), { max: 6, minDocs: 2, exclude });
  return hits.map(({ keyword, docs }) => {
    const matched = docs.map((i) => sources[i]!);
    const years = matched.flatMap((s) => (s.year === null ? [] : [s.year]));
    const range = years.length === 0 ? '' : Math.min(...years) === Math.max(...years) ? `, in ${years[0]}` : `, from ${Math.min(...years)} to ${Math.max(...years)}`;
    return {
      name: keyword,
      description: `In the words of ${matched.length} memories${range}.`,
      assetIds: [...new Set(matched.flatMap((s) => s.ids))],
    };
  });
}
