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

  const sections: Section[] = chapters(m.life).map((events) => ({ heading: voice.headings ? headingOf(events) : null, units: eventUnits(events, m, voice), dated: events[0]?.when != null }));
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


/** Chapters of the life: one per decade the memories mark, the undated last. */
function chapters(events: readonly BookEvent[]): BookEvent[][] {
  const out: BookEvent[][] = [];
  let key: number | null | undefined;
  for (const event of events) {
    const decade = event.when ? Math.floor(event.when.year / 10) * 10 : null;
    if (out.length === 0 || decade !== key) out.push([event]);
    else out[out.length - 1]!.push(event);
    key = decade;
  }
  return out;
}

/** "The 1960s: Whitby and Leeds, with Tom and Ann." — the decade, its places and its people. */
function headingOf(events: readonly BookEvent[]): string {
  const decade = events[0]?.when ? `The ${Math.floor(events[0].when.year / 10) * 10}s` : 'Without a date';
  // A heading names the place, not a phrase: "In the garden." is "the garden", and "whitby" is "Whitby" again.
  const places = mostFrequent(events.flatMap((e) => (e.place ? [e.place.replace(/[.!?,;:]+$/, '').replace(PREPOSITION, '')] : [])), 2);
  const people = mostFrequent(events.flatMap((e) => e.people), 3);
  const marks = [places.length ? listOf(places) : null, people.length ? `with ${listOf(people)}` : null].filter(Boolean).join(', ');
  return marks ? `${decade}: ${marks}.` : `${decade}.`;
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
