import { FileType, StoryStyle } from '../../db/enums.js';
import {
  AiProviderError,
  type StoryContext,
  type StoryDraft,
  type StoryOptions,
  type StoryParagraph,
  type StoryTheme,
  type StoryTimelineEntry,
} from '../ai.port.js';
import { narrativeOf } from '../narrative.js';
import { type BookEvent, gather, hasWords, type Material, type Message, parseDate, type Quote, sentences, type When } from './book/material.js';
import { topKeywords } from './story-keywords.js';

/**
 * The story writer that needs no model: a memory book made of what people wrote and said. Its
 * chapters follow the life, from the birth date through the decades the memories mark (their
 * places and the people in them) to the passing, then a remembrance chapter for what was added
 * after it and for the guests' messages. It quotes letters and transcripts verbatim (never a rough
 * transcript), uses the captions and places people typed and the people they named, and never
 * writes a fact of its own or a pixel statistic. Output is a pure function of the input (no clock,
 * no randomness, order of `memories` irrelevant). Every paragraph, timeline entry and theme cites
 * the memories it speaks of.
 *
 * No memories at all: throws a final AiProviderError. There is nothing true to write, and the
 * service refuses such stories before it gets here.
 */

const PROVIDER = 'local';
const MODEL = 'memory-book-v1';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const NUMBERS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
const KIND: Record<FileType, [string, string]> = {
  [FileType.IMAGE]: ['a photo', 'photos'],
  [FileType.VIDEO]: ['a video', 'videos'],
  [FileType.AUDIO]: ['a recording', 'recordings'],
  [FileType.DOCUMENT]: ['a document', 'documents'],
};
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

type Dates = 'full' | 'year';

interface Voice {
  dates: Dates;
  /** Words the narrative may hold (about three minutes read aloud for a eulogy); Infinity: all. */
  words: number;
  headings: boolean;
  /** Longest quote in characters. */
  quoteChars: number;
  /** Longest sentence of its own, in words (quotes not counted); captions longer are left out. */
  captionWords: number;
  /** Merge all chapters of the life into one paragraph. */
  onePage: boolean;
  /** Say how many memories nobody described (the whole book does; a page or a speech does not). */
  countsBare: boolean;
  /** Whether people's words (a caption, place, quote or message) may stand in this voice. */
  allows(text: string): boolean;
  title(m: Material, span: string): string;
  opening(c: StoryContext, m: Material): string[];
  event(e: BookEvent, m: Material): string[];
  quote(q: Quote, e: BookEvent, m: Material): string;
  passing(c: StoryContext, m: Material): string | null;
  remembrance(m: Material, after: boolean): string;
  message(msg: Message, m: Material, text: string): string;
  closing(m: Material): string | null;
}

export function writeExtractiveStory(context: StoryContext, options: StoryOptions, onNarrative?: (soFar: string) => void): StoryDraft {
  if (context.memories.length === 0) throw new AiProviderError('There are no memories to write a story from yet.', false);
  const material = gather(context);
  const voice = VOICES[options.style];
  const paragraphs = writeBook(context, material, voice);
  // Paragraph by paragraph, as a writer would: storyProgress shows the book growing.
  paragraphs.forEach((_, index) => onNarrative?.(narrativeOf(paragraphs.slice(0, index + 1))));
  return {
    provider: PROVIDER,
    model: MODEL,
    title: voice.title(material, lifeSpan(context)),
    paragraphs,
    timeline: options.includeTimeline ? timelineOf(material, voice) : [],
    themes: options.includeThemes ? themesOf(material) : [],
  };
}

// ---------------------------------------------------------------- the book

function writeBook(context: StoryContext, m: Material, voice: Voice): StoryParagraph[] {
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

const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

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
function holdsOnly(events: readonly BookEvent[]): string {
  const kinds = new Map<FileType, number>();
  for (const e of events) for (const [kind, n] of e.kinds) kinds.set(kind, (kinds.get(kind) ?? 0) + n);
  return `The chest also keeps ${kindList(kinds)} that nobody has described yet.`;
}

// ---------------------------------------------------------------- wording

function count(n: number, [one, many]: [string, string]): string {
  return n === 1 ? one : `${NUMBERS[n] ?? String(n)} ${many}`;
}

function kindList(kinds: Map<FileType, number>): string {
  return listOf([...kinds].map(([kind, n]) => count(n, KIND[kind])));
}

function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function dateText(when: When, dates: Dates): string {
  if (dates === 'year' || when.month === null) return String(when.year);
  const month = MONTHS[when.month - 1]!;
  return when.day === null ? `${month} ${when.year}` : `${when.day} ${month} ${when.year}`;
}

/** "on 3 June 1962", "in June 1962", "in 1962". */
function onDate(when: When, dates: Dates): string {
  return `${dates === 'full' && when.day !== null ? 'on' : 'in'} ${dateText(when, dates)}`;
}

// A place given as "in the garden" or "near the pier" keeps its own preposition; others get "at".
const PREPOSITION = /^(?:at|in|on|near|by|from|outside|inside|behind|beside|under|over|around|along|across|between|off|towards?)\s/i;

function at(place: string): string {
  const first = PREPOSITION.exec(place)?.[0];
  return first ? `${first.toLowerCase()}${place.slice(first.length)}` : `at ${place}`;
}

/** The place, unless every caption already names it. */
function placePart(e: BookEvent): string | null {
  if (!e.place) return null;
  const place = e.place.replace(/[.!?,;:]+$/, '');
  return e.captions.some((c) => c.toLowerCase().includes(place.toLowerCase())) ? null : at(place);
}

function lifeSpan(context: StoryContext): string {
  const born = parseDate(context.person.birthDate)?.year;
  const died = parseDate(context.person.passingDate)?.year;
  if (born !== undefined && died !== undefined) return `${born}–${died}`;
  if (born !== undefined) return `born ${born}`;
  if (died !== undefined) return `died ${died}`;
  return '';
}

function sentence(text: string): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  return !trimmed || /[.!?…"”’)]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

function quoteSource(q: Quote): string {
  return q.source === 'letter' ? 'A letter' : q.source === 'document' ? 'A document' : q.source === 'video' ? 'A video' : 'A recording';
}

function whoSent(msg: Message, m: Material, possessive = `${m.first}'s`): string {
  return msg.relationship ? `${msg.contributor}, ${possessive} ${msg.relationship},` : msg.contributor;
}

const fitting = (caption: string, max: number) => caption.split(' ').length <= max;

// A month or a full date in people's words: denser than the years a child's book keeps to.
const DENSE_DATE = new RegExp(`\\b(?:${MONTHS.join('|')})\\b|\\b\\d{1,4}[/.-]\\d{1,2}(?:[/.-]\\d{1,4})?\\b`);
/** Words a child's book may use: no month, no full date, short enough to stay in a short sentence. */
const forChild = (text: string, max = Infinity) => !DENSE_DATE.test(text) && fitting(text, max);

const comprehensive: Voice = {
  dates: 'full',
  words: Infinity,
  headings: true,
  quoteChars: 240,
  captionWords: 40,
  onePage: false,
  countsBare: true,
  allows: () => true,
  title: (m, span) => `The life of ${m.name}${span ? ` (${span})` : ''}`,
  opening: (c, m) => {
    const born = parseDate(c.person.birthDate);
    return [born ? `${m.name} was born ${onDate(born, 'full')}.` : `This is the story of ${m.name}, told from the memories kept in this chest.`, sentence(c.person.description ?? '')].filter(Boolean);
  },
  event: (e) => {
    const when = e.when ? capitalise(onDate(e.when, 'full')) : 'Without a date';
    const where = placePart(e);
    const letter = e.ids.length === 1 && e.quotes[0]?.source === 'letter';
    const what = `${letter ? 'a letter' : kindList(e.kinds)}${e.people.length ? ` with ${listOf(e.people)}` : ''}`;
    const captions = e.captions.length ? `: ${e.captions.join('; ')}` : '';
    return [sentence(`${when}${where ? ` ${where}` : ''}, ${what}${captions}`)];
  },
  quote: (q, e) => `${q.contributor ? `${q.contributor} sent it. ` : ''}${e.ids.length === 1 ? 'It' : quoteSource(q)} ${q.source === 'letter' || q.source === 'document' ? 'reads' : 'says'}: “${q.text}”`,
  passing: (c, m) => {
    const died = parseDate(c.person.passingDate);
    return died ? `${m.first} died ${onDate(died, 'full')}.` : null;
  },
  remembrance: (m, after) => (after ? `After ${m.first} died, the family went on keeping memories.` : `Friends remember ${m.first}.`),
  message: (msg, m, text) => `${whoSent(msg, m)} remembers: “${text}”`,
  closing: () => null,
};

const brief: Voice = {
  ...comprehensive,
  words: 260,
  headings: false,
  quoteChars: 180,
  onePage: true,
  countsBare: false,
  title: (m, span) => `${m.name} in brief${span ? ` (${span})` : ''}`,
  opening: (c, m) => {
    const born = parseDate(c.person.birthDate);
    const description = sentences(c.person.description ?? '')[0] ?? '';
    return [born ? `${m.name} was born ${onDate(born, 'full')}.` : null, sentence(description)].filter((t): t is string => Boolean(t));
  },
  remembrance: (m, after) => (after ? `Since ${m.first} died:` : `Friends remember ${m.first}.`),
};

const forChildren: Voice = {
  dates: 'year',
  words: 600,
  headings: false,
  quoteChars: 90,
  captionWords: 10,
  onePage: false,
  countsBare: false,
  allows: (text) => forChild(text),
  title: (m) => `The story of ${m.name}`,
  opening: (c, m) => {
    const born = parseDate(c.person.birthDate);
    const description = sentences(c.person.description ?? '')[0] ?? '';
    return [`This is the story of ${m.name}.`, born ? `${m.first} was born in ${born.year}.` : null, description && forChild(description, 14) ? sentence(description) : null].filter((t): t is string => Boolean(t));
  },
  event: (e) => {
    const kinds = kindList(e.kinds);
    // A long place ("the little church on the hill above ...") would make a long sentence: left out.
    const place = e.place?.replace(/^(?:at|in|from)\s/i, '').replace(/[.!?,;:]+$/, '') ?? '';
    const where = place && forChild(place, 5) ? ` from ${place}` : '';
    const one = [...e.kinds.values()].reduce((a, b) => a + b, 0) === 1;
    const lines = [sentence(`${e.when ? `In ${e.when.year}, there ${one ? 'is' : 'are'}` : `There ${one ? 'is' : 'are'}`} ${kinds}${where}`)];
    if (e.people.length) lines.push(`${listOf(e.people.slice(0, 3))} ${e.people.length === 1 ? 'is' : 'are'} in it.`);
    const caption = e.captions.find((c) => forChild(c, 10));
    if (caption) lines.push(`It says: ${sentence(caption)}`);
    return lines;
  },
  quote: (q) => `${quoteSource(q)} says: “${q.text}”`,
  passing: (c, m) => {
    const died = parseDate(c.person.passingDate);
    return died ? `${m.first} died in ${died.year}.` : null;
  },
  remembrance: (m, after) => (after ? `After ${m.first} died, people kept adding memories.` : `People remember ${m.first}.`),
  message: (msg, m, text) => `${msg.contributor} remembers ${m.first}: “${text}”`,
  closing: (m) => `We remember ${m.first}.`,
};

const eulogy: Voice = {
  dates: 'full',
  // About three minutes read aloud, at 140 to 150 words a minute.
  words: 430,
  headings: false,
  quoteChars: 200,
  captionWords: 25,
  onePage: false,
  countsBare: false,
  allows: () => true,
  title: (m, span) => `Remembering ${m.name}${span ? ` (${span})` : ''}`,
  opening: (c, m) => {
    const born = parseDate(c.person.birthDate);
    const died = parseDate(c.person.passingDate);
    const life = [born ? `was born ${onDate(born, 'full')}` : null, died ? `died ${onDate(died, 'full')}` : null].filter(Boolean).join(' and ');
    return [`We are here to remember ${m.name}${life ? `, who ${life}` : ''}.`, sentence(sentences(c.person.description ?? '')[0] ?? '')].filter(Boolean);
  },
  event: (e) => {
    const when = e.when ? `We remember ${dateText(e.when, 'full')}` : 'We remember a day nobody dated';
    const where = placePart(e);
    const who = e.people.length ? `, with ${listOf(e.people)}` : '';
    const caption = e.captions.find((c) => fitting(c, 25));
    return [sentence(`${when}${where ? ` ${where}` : ''}${who}${caption ? `: ${caption}` : ''}`)];
  },
  quote: (q, _e, m) => (q.aboutPerson ? `${m.first}, ${quoteSource(q).toLowerCase()} kept these words for you: “${q.text}”` : `${quoteSource(q)} says: “${q.text}”`),
  passing: () => null,
  remembrance: (m, after) => (after ? `Since you left us, ${m.first}, we have gone on keeping memories.` : `Your friends remember you, ${m.first}.`),
  message: (msg, m, text) => `${whoSent(msg, m, 'your')} remembers: “${text}”`,
  closing: (m) => `${m.first}, we will keep remembering you.`,
};

const VOICES: Record<StoryStyle, Voice> = {
  [StoryStyle.COMPREHENSIVE]: comprehensive,
  [StoryStyle.BRIEF]: brief,
  [StoryStyle.FOR_CHILDREN]: forChildren,
  [StoryStyle.EULOGY]: eulogy,
};

// ---------------------------------------------------------------- timeline and themes

function timelineOf(m: Material, voice: Voice): StoryTimelineEntry[] {
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

/**
 * What the local describer measures rather than sees (src/ai/local/image-tags.ts): colours,
 * shape, tone, "document", and decade and season from the date. Facts of the pixels or the
 * calendar, not of a life. The book no longer reads tags at all; kept for the describer's test.
 */
const MEASURED_TAGS: ReadonlySet<string> = new Set([
  'person',
  ...['red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'grey', 'gray'],
  ...['portrait', 'landscape', 'square', 'panorama'],
  ...['black and white', 'sepia', 'document'],
  ...['winter', 'spring', 'summer', 'autumn'],
]);
const DECADE_TAG = /^\d{3,4}s$/;

/** Whether a tag is one of the describer's measurements rather than something about the memory. */
export function isMeasuredTag(tag: string): boolean {
  const name = tag.trim().toLowerCase();
  return MEASURED_TAGS.has(name) || DECADE_TAG.test(name);
}

/** Themes from what people wrote and said (letters, transcripts, captions, their own tags, places, messages), each in two events or more. */
function themesOf(m: Material): StoryTheme[] {
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
