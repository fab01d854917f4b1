import type { StoryTimelineEntry } from '../../ai.port.js';
import type { Material } from './material.js';
import type { Voice } from './voices.js';
import { capitalise, kindList, listOf, placePart } from './wording.js';

export function timelineOf(m: Material, voice: Voice): StoryTimelineEntry[] {
  return [...m.life, ...m.after]
    .filter((e) => e.when !== null)
    .map((e) => {
      const caption = e.captions.find((c) => voice.allows(c));
      const where = e.place && voice.allows(e.place) ? placePart({ ...e, captions: caption ? [caption] : [] }) : null;
      const what = caption ?? capitalise(`${kindList(e.kinds)}${e.people.length ? ` with ${listOf(e.people)}` : ''}`);
      const when = e.when!;
      return {
        date: voice.dates === 'year' ? String(when.year) : when.key,
        title: `${what}${where ? ` ${where}` : ''}`.slice(0, 160),
        description: e.quotes.find((q) => voice.allows(q.text))?.text ?? null,
        assetIds: e.ids,
      };
    });
}
