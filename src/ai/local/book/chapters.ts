import { FileType } from '../../../db/enums.js';
import type { StoryContext, StoryParagraph } from '../../ai.port.js';
import { type BookEvent, hasWords, type Material, type Message, sentences } from './material.js';
import type { Voice } from './voices.js';
import { kindList, listOf, PREPOSITION, words } from './wording.js';

/** The book's layout: the opening, the chapters of the life, the passing, the remembrance, trimmed to the voice's length. */

/** Fewer events with words than this, and no message: the book says it is short. */
const LITTLE = 3;

/** One sentence of the book and the memories it speaks of. */
interface Unit {
  text: string;
  ids: string[];
  /** What trimming to a style's length keeps first; Infinity: always kept. */
  score: number;
  /** The event it tells (its sentences stay in one paragraph). */
  group?: number;
}

interface Section {
  heading: string | null;
  units: Unit[];
  /** Its memories are dated: the passing follows the last such chapter, before the undated ones. */
  dated: boolean;
}

export function writeBook(context: StoryContext, m: Material, voice: Voice): StoryParagraph[] {
  const withWords = [...m.life, ...m.after].filter(hasWords).length;
  const opening: Unit[] = voice.opening(context, m).map((text) => ({ text, ids: [], score: Infinity }));
  if (withWords < LITTLE && m.messages.length === 0) {
    opening.push({ text: 'The chest holds only a few memories so far, so this book is short; it will grow as the family adds more.', ids: [], score: Infinity });
  }

  const sections: Section[] = chapters(m.life).map((chapter) => ({ heading: voice.headings ? headingOf(chapter) : null, units: eventUnits(chapter.events, m, voice), dated: chapter.events[0]?.when != null }));
  const passing = voice.passing(context, m);
  const remembrance: Unit[] = [...eventUnits(m.after, m, voice), ...m.messages.flatMap((msg) => messageUnit(msg, m, voice))];

  // Trim to the style's length: the least telling sentences go first, the latest of equals first.
  const all = [...sections.flatMap((s) => s.units), ...remembrance];
  const fixed = [...opening, ...(passing ? [passing] : []), voice.closing(m) ?? '', voice.remembrance(m, m.after.length > 0)].map((t) => (typeof t === 'string' ? words(t) : words(t.text)));
  let total = fixed.reduce((a, b) => a + b, 0) + all.reduce((a, u) => a + words(u.text), 0);
  const order = all.map((u, i) => ({ u, i })).sort((a, b) => a.u.score - b.u.score || b.i - a.i);
  const dropped = new Set<Unit>();
  for (const { u } of order) {
    if (total <= voice.words) break;
    dropped.add(u);
    total -= words(u.text);
  }
  const keep = (units: Unit[]) => units.filter((u) => !dropped.has(u));

  const out: { text: string; ids: string[] }[] = [];
  const push = (units: Unit[], heading: string | null) => {
    if (units.length === 0) return;
    const text = [heading ? `**${heading}**` : null, ...units.map((u) => u.text)].filter(Boolean).join(' ');
    out.push({ text, ids: [...new Set(units.flatMap((u) => u.ids))] });
  };
  const life = sections.map((s) => ({ ...s, units: keep(s.units) })).filter((s) => s.units.length > 0);
  let lifeCount = 0;
  if (voice.onePage) push(life.flatMap((s) => s.units), null);
  for (const s of voice.onePage ? [] : life) {
    for (const [i, part] of byEvents(s.units, 3).entries()) push(part, i === 0 ? s.heading : null);
    if (s.dated) lifeCount = out.length;
  }
  if (voice.onePage) lifeCount = out.length;
  const kept = keep(remembrance);
  if (kept.length > 0) push([{ text: voice.remembrance(m, m.after.length > 0), ids: [], score: Infinity }, ...kept], voice.headings ? `Remembering ${m.first}.` : null);

  const paragraphs = out;
  // The passing closes the life: after its last chapter, or after the opening when no chapter is dated.
  if (passing) {
    const at = lifeCount > 0 ? paragraphs[lifeCount - 1]! : null;
    if (at) at.text = `${at.text} ${passing}`;
    else opening.push({ text: passing, ids: [], score: Infinity });
  }
  // The opening and closing say what the chest says of the person; they join the paragraphs that cite.
  const first = paragraphs[0];
  if (first) first.text = `${opening.map((u) => u.text).join(' ')} ${first.text}`.trim();
  const closing = voice.closing(m);
  const last = paragraphs[paragraphs.length - 1];
  if (closing && last) last.text = `${last.text} ${closing}`;
  if (paragraphs.length === 0) {
    // Nothing with words at all: one paragraph saying what the chest holds, citing it.
    const ids = [...m.life, ...m.after].flatMap((e) => e.ids);
    return [{ text: [...opening.map((u) => u.text), holdsOnly([...m.life, ...m.after]), closing].filter(Boolean).join(' '), assetIds: ids }];
  }
  return paragraphs.map((p) => ({ text: p.text, assetIds: p.ids }));
}

/** Paragraphs of at most `size` events, never splitting one. */
function byEvents(units: Unit[], size: number): Unit[][] {
  const out: Unit[][] = [];
  let events = 0;
  let group: number | undefined;
  for (const unit of units) {
    const fresh = out.length === 0 || unit.group !== group;
    if (fresh && (out.length === 0 || events >= size)) {
      out.push([]);
      events = 0;
    }
    if (fresh) events++;
    group = unit.group;
    out[out.length - 1]!.push(unit);
  }
  return out;
}


/** A chapter of the life: its events and what it is called ("The 1960s", "1961–1964", "Without a date"). */
interface Chapter {
  events: BookEvent[];
  label: string;
}

/** A change of home or company needs this many events on each side to be a period of its own. */
const PERIOD_EVENTS = 2;

/**
 * Chapters of the life: one per decade, the undated last, and a decade split into periods where
 * its memories mark one: a change of place (Whitby, then Leeds; whoever is in them) or of the
 * people who appear (Tom, then Joe and Liz) where no place is in both, each side with two events
 * or more and at a change of year. A decade
 * whose places or people come and go stays one chapter: a period a reader can see, not a list.
 */
function chapters(events: readonly BookEvent[]): Chapter[] {
  const decades: BookEvent[][] = [];
  let key: number | null | undefined;
  for (const event of events) {
    const decade = event.when ? Math.floor(event.when.year / 10) * 10 : null;
    if (decades.length === 0 || decade !== key) decades.push([event]);
    else decades[decades.length - 1]!.push(event);
    key = decade;
  }
  return decades.flatMap((decade) => {
    const first = decade[0]!.when;
    if (!first) return [{ events: decade, label: 'Without a date' }];
    const periods = periodsOf(decade);
    if (periods.length === 1) return [{ events: decade, label: `The ${Math.floor(first.year / 10) * 10}s` }];
    return periods.map((period) => {
      const from = period[0]!.when!.year;
      const to = period[period.length - 1]!.when!.year;
      return { events: period, label: from === to ? String(from) : `${from}–${to}` };
    });
  });
}

/** The decade's events in periods: split at the first change the memories mark, then the rest again. */
function periodsOf(events: readonly BookEvent[]): BookEvent[][] {
  for (let k = PERIOD_EVENTS; k <= events.length - PERIOD_EVENTS; k++) {
    if (events[k - 1]!.when!.year === events[k]!.when!.year) continue;
    const before = events.slice(0, k);
    const after = events.slice(k);
    const [placesBefore, placesAfter] = [before.flatMap(placesOf), after.flatMap(placesOf)];
    // A move is a period even with the same people; new people are one only where no place runs across it.
    const moved = apart(placesBefore, placesAfter, before, after);
    const newPeople = !overlap(placesBefore, placesAfter) && apart(before.flatMap((e) => e.people), after.flatMap((e) => e.people), before, after);
    if (moved || newPeople) return [before, ...periodsOf(after)];
  }
  return [[...events]];
}

const placeName = (place: string) => place.replace(/[.!?,;:]+$/, '').replace(PREPOSITION, '');
const placesOf = (e: BookEvent) => (e.place ? [placeName(e.place)] : []);

/**
 * Two runs of events marked apart by a place or the people in them: each has the mark on two
 * events or more, and no mark of one is in the other ("Whitby" then "Leeds"; Tom then Joe and Liz).
 */
function apart(marksBefore: readonly string[], marksAfter: readonly string[], before: readonly BookEvent[], after: readonly BookEvent[]): boolean {
  const lower = (marks: readonly string[]) => new Set(marks.map((m) => m.toLowerCase()));
  const a = lower(marksBefore);
  const b = lower(marksAfter);
  const marked = (events: readonly BookEvent[], marks: Set<string>) => events.filter((e) => [...placesOf(e), ...e.people].some((m) => marks.has(m.toLowerCase()))).length;
  if (a.size === 0 || b.size === 0 || marked(before, a) < PERIOD_EVENTS || marked(after, b) < PERIOD_EVENTS) return false;
  return [...a].every((m) => !b.has(m));
}

function overlap(a: readonly string[], b: readonly string[]): boolean {
  const other = new Set(b.map((m) => m.toLowerCase()));
  return a.some((m) => other.has(m.toLowerCase()));
}

/** "The 1960s: Whitby and Leeds, with Tom and Ann." — the period, its places and its people. */
function headingOf({ events, label }: Chapter): string {
  // A heading names the place, not a phrase: "In the garden." is "the garden", and "whitby" is "Whitby" again.
  const places = mostFrequent(events.flatMap(placesOf), 2);
  const people = mostFrequent(events.flatMap((e) => e.people), 3);
  const with_ = people.length ? `with ${listOf(people)}` : null;
  if (places.length) return `${label}: ${[listOf(places), with_].filter(Boolean).join(', ')}.`;
  return with_ ? `${label}, ${with_}.` : `${label}.`;
}

/** The most frequent items, counted in any case and named as first written. */
function mostFrequent(items: readonly string[], max: number): string[] {
  const counts = new Map<string, { item: string; n: number }>();
  for (const item of items) {
    const known = counts.get(item.toLowerCase());
    if (known) known.n++;
    else counts.set(item.toLowerCase(), { item, n: 1 });
  }
  return [...counts.values()].sort((a, b) => b.n - a.n).slice(0, max).map(({ item }) => item);
}

/** An event's sentences and its best quote; events with nothing but a kind are counted together. */
function eventUnits(events: readonly BookEvent[], m: Material, voice: Voice): Unit[] {
  const units: Unit[] = [];
  const bare: BookEvent[] = [];
  for (const [group, event] of events.entries()) {
    if (!hasWords(event)) {
      bare.push(event);
      continue;
    }
    const told = voice.event(event, m);
    const score = 2 + Number(event.captions.length > 0) + Number(event.people.length > 0);
    told.forEach((text, i) => units.push({ text, ids: event.ids, score: i === 0 ? score : score - 0.5, group }));
    const quote = event.quotes.find((q) => q.text.length <= voice.quoteChars && voice.allows(q.text));
    if (quote) units.push({ text: voice.quote(quote, event, m), ids: [quote.id], score: quote.aboutPerson ? 6 : 4, group });
  }
  if (bare.length > 0 && voice.countsBare) units.push({ text: holdsOnly(bare), ids: bare.flatMap((e) => e.ids), score: 1, group: -1 });
  return units;
}

function messageUnit(msg: Message, m: Material, voice: Voice): Unit[] {
  // Verbatim: the whole message when it fits, else its first sentences that do.
  let text = '';
  for (const sentence of sentences(msg.text)) {
    if (!voice.allows(sentence)) break;
    const next = text ? `${text} ${sentence}` : sentence;
    if (next.length > voice.quoteChars) break;
    text = next;
  }
  if (!text) return [];
  return [{ text: voice.message(msg, m, text), ids: msg.ids, score: 7 }];
}

/** "The chest also keeps two photos and a recording from these years." */
export function holdsOnly(events: readonly BookEvent[]): string {
  const kinds = new Map<FileType, number>();
  for (const e of events) for (const [kind, n] of e.kinds) kinds.set(kind, (kinds.get(kind) ?? 0) + n);
  return `The chest also keeps ${kindList(kinds)} that nobody has described yet.`;
}
