import { FileType, StoryStyle } from '../../db/enums.js';
import {
  AiProviderError,
  type StoryContext,
  type StoryDraft,
  type StoryMemory,
  type StoryOptions,
  type StoryParagraph,
  type StoryTheme,
  type StoryTimelineEntry,
} from '../ai.port.js';
import { narrativeOf } from '../narrative.js';
import { topKeywords } from './story-keywords.js';

/**
 * The story writer that needs no model: it arranges what the memories already say (captions,
 * titles, dates, verbatim sentences from transcripts, but never from a rough transcript, whose
 * words are a machine's guesses) and never writes a fact of its own. Output is a pure function
 * of the input (no clock, no randomness, order of `memories` irrelevant), so the same chest
 * always gets the same story. Every paragraph cites the memories it speaks of; the
 * person's own facts open the first period paragraph rather than stand uncited.
 *
 * No memories at all: throws a final AiProviderError. There is nothing true to write, and the
 * service refuses such stories before it gets here.
 */

const PROVIDER = 'local';
const MODEL = 'extractive-v1';

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const NUMBERS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
const KIND: Record<FileType, string> = {
  [FileType.IMAGE]: 'a photo',
  [FileType.VIDEO]: 'a video',
  [FileType.AUDIO]: 'a voice recording',
  [FileType.DOCUMENT]: 'a document',
};
// Camera and recorder file names ("IMG_2034", "New Recording 12") say nothing about the memory.
const GENERIC_NAME = /^(?:img|dsc[nf]?|pxl|vid|mvimg|photo|image|scan|screenshot|rec|recording|new recording|voice memo|audio|video|document|doc|file|untitled)?[\s\d]*$/i;

interface When {
  key: string;
  year: number;
  month: number | null;
  day: number | null;
}

interface Memory {
  source: StoryMemory;
  when: When | null;
  label: string;
  /** True when the label is only "A photo": lists then say "a photo (1962)" instead of repeating it. */
  generic: boolean;
  /** "at Whitby": where it was made, as the family named it; null when unknown or the label already says it. */
  at: string | null;
}

interface Period {
  /** "the 1960s"; null for undated memories. */
  decade: number | null;
  memories: Memory[];
}

interface Quote {
  memory: Memory;
  text: string;
}

interface Voice {
  title(name: string, span: string): string;
  names: number;
  quotes: number;
  quoteChars: number;
  opening(context: StoryContext): string;
  period(periods: Period[], named: Memory[], others: number, quotes: Quote[]): string;
  closing(name: string): string | null;
}

export function writeExtractiveStory(context: StoryContext, options: StoryOptions, onNarrative?: (soFar: string) => void): StoryDraft {
  const memories = prepare(context.memories);
  if (memories.length === 0) {
    throw new AiProviderError('There are no memories to write a story from yet.', false);
  }
  const name = context.person.name.trim() || 'this person';
  const voice = VOICES[options.style];

  const groups = groupPeriods(periodsOf(memories), options.style === StoryStyle.BRIEF ? 3 : Infinity);
  const paragraphs: StoryParagraph[] = groups.map((periods, index) => {
    const inGroup = periods.flatMap((period) => period.memories);
    const named = inGroup.slice(0, voice.names);
    const quotes = pickQuotes(inGroup, voice.quotes, voice.quoteChars);
    const parts = [voice.period(periods, named, inGroup.length - named.length, quotes)];
    if (index === 0) parts.unshift(voice.opening(context));
    const closing = index === groups.length - 1 ? voice.closing(name) : null;
    if (closing) parts.push(closing);
    // The paragraph speaks of (counts, names or quotes) every memory of its periods.
    return { text: parts.filter(Boolean).join(' '), assetIds: inGroup.map((memory) => memory.source.id) };
  });

  paragraphs.forEach((_, index) => onNarrative?.(narrativeOf(paragraphs.slice(0, index + 1))));

  return {
    provider: PROVIDER,
    model: MODEL,
    title: voice.title(name, lifeSpan(context)),
    paragraphs,
    timeline: options.includeTimeline ? timelineOf(memories) : [],
    themes: options.includeThemes ? themesOf(memories, name) : [],
  };
}

// ---------------------------------------------------------------- memories

function prepare(input: readonly StoryMemory[]): Memory[] {
  const seen = new Set<string>();
  const memories: Memory[] = [];
  for (const source of input) {
    if (seen.has(source.id)) continue;
    seen.add(source.id);
    const label = labelOf(source);
    memories.push({ source, when: parseDate(source.date), ...label, at: placeOf(source, label.label) });
  }
  // Date ascending, then id; undated last. Plain code-unit comparison: no locale involved.
  return memories.sort((a, b) => compare(a.when?.key ?? '\uffff', b.when?.key ?? '\uffff') || compare(a.source.id, b.source.id));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parseDate(date: string | null): When | null {
  const match = /^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?(?:T.*)?$/.exec(date?.trim() ?? '');
  if (!match) return null;
  const year = Number(match[1]);
  const month = match[2] === undefined ? null : Number(match[2]);
  const day = match[3] === undefined ? null : Number(match[3]);
  if (month !== null && (month < 1 || month > 12)) return null;
  if (day !== null && (day < 1 || day > 31)) return null;
  const key = [match[1], match[2], match[3]].filter((part) => part !== undefined).join('-');
  return { key, year, month, day };
}

function labelOf(memory: StoryMemory): { label: string; generic: boolean } {
  const caption = memory.caption?.replace(/\s+/g, ' ').trim().replace(/[.!?]+$/, '');
  if (caption) return { label: clip(caption, 120), generic: false };
  const humanised = memory.title
    .replace(/\.[a-z0-9]{1,5}$/i, '')
    .replace(/[_.\-]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  if (!humanised || GENERIC_NAME.test(humanised)) return { label: capitalise(KIND[memory.kind]), generic: true };
  return { label: clip(capitalise(humanised), 120), generic: false };
}

// A place given as "in the garden" or "near the pier" keeps its own preposition; others get "at".
const PREPOSITION = /^(?:at|in|on|near|by|from|outside|inside|behind|beside|under|over|around|along|across|between|off|towards?)\s/i;

/** "at Whitby" from the family's words; null when none, or when the label already names the place. */
function placeOf(memory: StoryMemory, label: string): string | null {
  const place = memory.place?.replace(/\s+/g, ' ').trim().replace(/[.!?,;:]+$/, '');
  if (!place || label.toLowerCase().includes(place.toLowerCase())) return null;
  const words = clip(place, 80);
  const first = PREPOSITION.exec(words)?.[0];
  return first ? `${first.toLowerCase()}${words.slice(first.length)}` : `at ${words}`;
}

/** The label with its place: "Rose on the pier at Whitby". */
function placed(memory: Memory, label = memory.label): string {
  return memory.at ? `${label} ${memory.at}` : label;
}

// Captions start with a capital; inside a sentence an article may drop it, a name may not.
const ARTICLE = /^(?:A|An|The|Some|Two|Three|Four|Several|Many)\s/;

function inSentence(label: string): string {
  return ARTICLE.test(label) ? label.charAt(0).toLowerCase() + label.slice(1) : label;
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** At most `max` characters, cut at a word and marked with an ellipsis. */
function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > max / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:]+$/, '')}…`;
}

/** Sentences as they stand in the text (not re-spaced), so a quote is a verbatim substring. */
function sentences(text: string): string[] {
  return (text.match(/[^.!?]+(?:[.!?]+["'”’)]*|$)/g) ?? []).map((sentence) => sentence.trim()).filter(Boolean);
}

/** Words a memory holds that may be repeated as written: a rough transcript is not one of them (its words are the machine's guesses). */
function quotable(memory: StoryMemory): string | null {
  return memory.roughTranscript ? null : memory.transcript;
}

function excerpt(memory: StoryMemory): string | null {
  for (const text of [quotable(memory), memory.text]) {
    const first = sentences(text?.replace(/\s+/g, ' ') ?? '')[0];
    if (first) return clip(first, 200);
  }
  return null;
}

function pickQuotes(memories: readonly Memory[], max: number, maxChars: number): Quote[] {
  const quotes: Quote[] = [];
  for (const memory of memories) {
    if (quotes.length >= max) break;
    const text = sentences(quotable(memory.source) ?? '').find(
      (sentence) =>
        sentence.length >= 20 &&
        sentence.length <= maxChars &&
        sentence.split(' ').length >= 4 &&
        !/\s\s|[\n\r\t“”"]/.test(sentence),
    );
    if (text) quotes.push({ memory, text });
  }
  return quotes;
}

// ---------------------------------------------------------------- dates and periods

function fullDate(when: When): string {
  const month = when.month === null ? '' : `${MONTHS[when.month - 1] ?? ''} `;
  const day = when.day === null ? '' : `${when.day} `;
  return `${day}${month}${when.year}`;
}

function lifeSpan(context: StoryContext): string {
  const born = parseDate(context.person.birthDate)?.year;
  const died = parseDate(context.person.passingDate)?.year;
  if (born !== undefined && died !== undefined) return `${born}–${died}`;
  if (born !== undefined) return `born ${born}`;
  if (died !== undefined) return `died ${died}`;
  return '';
}

function periodsOf(memories: readonly Memory[]): Period[] {
  const periods: Period[] = [];
  for (const memory of memories) {
    const decade = memory.when ? Math.floor(memory.when.year / 10) * 10 : null;
    const last = periods[periods.length - 1];
    if (last && last.decade === decade) last.memories.push(memory);
    else periods.push({ decade, memories: [memory] });
  }
  return periods;
}

/** At most `max` groups of neighbouring decades; undated memories keep a group of their own. */
function groupPeriods(periods: Period[], max: number): Period[][] {
  const dated = periods.filter((period) => period.decade !== null);
  const undated = periods.filter((period) => period.decade === null);
  const slots = Math.max(1, max - undated.length);
  const groups: Period[][] = [];
  if (dated.length <= slots) dated.forEach((period) => groups.push([period]));
  else {
    const size = Math.floor(dated.length / slots);
    const extra = dated.length % slots;
    let start = 0;
    for (let i = 0; i < slots; i++) {
      const end = start + size + (i < extra ? 1 : 0);
      groups.push(dated.slice(start, end));
      start = end;
    }
  }
  undated.forEach((period) => groups.push([period]));
  return groups;
}

/** "the 1960s", "the 1960s and 1970s", "the 1950s to the 1980s"; null when undated. */
function spanOf(periods: readonly Period[]): string | null {
  const first = periods[0]?.decade;
  const last = periods[periods.length - 1]?.decade;
  if (first == null || last == null) return null;
  if (first === last) return `the ${first}s`;
  return periods.length === 2 ? `the ${first}s and ${last}s` : `the ${first}s to the ${last}s`;
}

// ---------------------------------------------------------------- wording

function count(n: number, one: string, many: string): string {
  return `${NUMBERS[n] ?? String(n)} ${n === 1 ? one : many}`;
}

function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  if (items.length === 2) return `${items[0]} and ${items[1]}`;
  // Labels may hold commas, so longer lists use semicolons.
  return `${items.slice(0, -1).join('; ')}; and ${items[items.length - 1]}`;
}

function item(memory: Memory, dates: 'full' | 'year'): string {
  const when = memory.when ? (dates === 'full' ? fullDate(memory.when) : String(memory.when.year)) : null;
  if (memory.generic) return when ? `${placed(memory, KIND[memory.source.kind])} (${when})` : placed(memory, KIND[memory.source.kind]);
  return `${placed(memory, inSentence(memory.label))} (${[KIND[memory.source.kind], when].filter(Boolean).join(', ')})`;
}

function names(named: readonly Memory[], others: number, dates: 'full' | 'year'): string {
  const items = named.map((memory) => item(memory, dates));
  if (others > 0) items.push(count(others, 'more memory', 'more memories'));
  return listOf(items);
}

function attribution(quote: Quote, dates: 'full' | 'year'): string {
  const { contributor, relationship, kind } = quote.memory.source;
  if (contributor?.trim()) {
    const who = relationship?.trim() ? `${contributor.trim()} (${relationship.trim()})` : contributor.trim();
    return `As ${who} remembers, “${quote.text}”`;
  }
  const when = quote.memory.when ? ` from ${dates === 'full' ? fullDate(quote.memory.when) : quote.memory.when.year}` : '';
  return `${capitalise(KIND[kind])}${when} says: “${quote.text}”`;
}

function sentence(text: string): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  return !trimmed || /[.!?…"”’)]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

/** "was born on 3 March 1931 and died on 12 November 2019", or null when neither date is known. */
function lifePredicate(context: StoryContext, dates: 'full' | 'year'): string | null {
  const format = (date: string | null): string | null => {
    const when = parseDate(date);
    if (!when) return null;
    if (dates === 'year') return `in ${when.year}`;
    return when.day === null ? `in ${fullDate(when)}` : `on ${fullDate(when)}`;
  };
  const born = format(context.person.birthDate);
  const died = format(context.person.passingDate);
  if (born && died) return `was born ${born} and died ${died}`;
  if (born) return `was born ${born}`;
  if (died) return `died ${died}`;
  return null;
}

function lifeFacts(context: StoryContext, who: string, dates: 'full' | 'year'): string | null {
  const predicate = lifePredicate(context, dates);
  return predicate ? `${capitalise(who)} ${predicate}.` : null;
}

function firstName(name: string): string {
  return name.split(' ')[0] ?? name;
}

const comprehensive: Voice = {
  title: (name, span) => `The life of ${name}${span ? ` (${span})` : ''}`,
  names: 12,
  quotes: 2,
  quoteChars: 200,
  opening: (context) => {
    const name = context.person.name.trim() || 'this person';
    const facts = lifeFacts(context, name, 'full') ?? `This is the story of ${name}, told from the memories kept in this chest.`;
    return [facts, sentence(context.person.description ?? '')].filter(Boolean).join(' ');
  },
  period: (periods, named, others, quotes) => {
    const total = named.length + others;
    const span = spanOf(periods);
    const lead = span
      ? `From ${span}, the chest holds ${count(total, 'memory', 'memories')}: ${names(named, others, 'full')}.`
      : `${capitalise(count(total, 'memory has', 'memories have'))} no date: ${names(named, others, 'full')}.`;
    return [lead, ...quotes.map((quote) => attribution(quote, 'full'))].join(' ');
  },
  closing: () => null,
};

const brief: Voice = {
  title: (name, span) => `${name} in brief${span ? ` (${span})` : ''}`,
  names: 3,
  quotes: 1,
  quoteChars: 160,
  opening: (context) => {
    const name = context.person.name.trim() || 'this person';
    const description = sentences(context.person.description?.replace(/\s+/g, ' ') ?? '')[0] ?? '';
    return [lifeFacts(context, name, 'full'), sentence(description)].filter(Boolean).join(' ');
  },
  period: (periods, named, others, quotes) => {
    const span = spanOf(periods);
    const lead = span ? `From ${span}: ${names(named, others, 'full')}.` : `Undated: ${names(named, others, 'full')}.`;
    return [lead, ...quotes.map((quote) => attribution(quote, 'full'))].join(' ');
  },
  closing: () => null,
};

/** "It shows a dog." after an article; otherwise a colon, since "Rose" must keep its capital and "Baskets" reads wrong with it. */
function shows(label: string): string {
  return ARTICLE.test(label) ? `It shows ${inSentence(label)}.` : `It shows: ${label}.`;
}

const forChildren: Voice = {
  title: (name) => `The story of ${name}`,
  names: 4,
  quotes: 1,
  quoteChars: 120,
  opening: (context) => {
    const name = context.person.name.trim() || 'this person';
    const description = sentences(context.person.description?.replace(/\s+/g, ' ') ?? '')[0] ?? '';
    return [
      `This is the story of ${name}.`,
      lifeFacts(context, firstName(name), 'year'),
      description.length <= 100 ? sentence(description) : '',
    ]
      .filter(Boolean)
      .join(' ');
  },
  period: (periods, named, others, quotes) => {
    const span = spanOf(periods);
    const lines = [span ? `Here are memories from ${span}.` : 'Here are memories with no date.'];
    for (const memory of named) {
      const kind = KIND[memory.source.kind];
      const where = memory.at ? `${memory.at}, ` : '';
      const when = memory.when ? `In ${memory.when.year}, ${where}there is ${kind}.` : `${capitalise(`${where}there is ${kind}.`)}`;
      if (memory.generic) lines.push(when);
      else if (memory.source.caption?.trim()) lines.push(when, shows(memory.label));
      else lines.push(when, `It is called ${memory.label}.`);
    }
    if (others > 0) lines.push(`There ${others === 1 ? 'is' : 'are'} ${count(others, 'more memory', 'more memories')}.`);
    for (const quote of quotes) {
      const who = quote.memory.source.contributor?.trim();
      lines.push(who ? `${who} remembers: “${quote.text}”` : `${capitalise(KIND[quote.memory.source.kind])} says: “${quote.text}”`);
    }
    return lines.join(' ');
  },
  closing: () => null,
};

const eulogy: Voice = {
  title: (name, span) => `Remembering ${name}${span ? ` (${span})` : ''}`,
  names: 6,
  quotes: 2,
  quoteChars: 200,
  opening: (context) => {
    const name = context.person.name.trim() || 'this person';
    const predicate = lifePredicate(context, 'full');
    const lead = predicate ? `We remember ${name}, who ${predicate}.` : `We remember ${name}.`;
    return [lead, sentence(context.person.description ?? '')].filter(Boolean).join(' ');
  },
  period: (periods, named, others, quotes) => {
    const total = named.length + others;
    const span = spanOf(periods);
    const lead = span
      ? `We remember ${span} through ${count(total, 'memory', 'memories')}: ${names(named, others, 'full')}.`
      : `We remember, too, the moments no one dated: ${names(named, others, 'full')}.`;
    return [lead, ...quotes.map((quote) => attribution(quote, 'full'))].join(' ');
  },
  closing: (name) => `These are the memories we keep of ${firstName(name)}.`,
};

const VOICES: Record<StoryStyle, Voice> = {
  [StoryStyle.COMPREHENSIVE]: comprehensive,
  [StoryStyle.BRIEF]: brief,
  [StoryStyle.FOR_CHILDREN]: forChildren,
  [StoryStyle.EULOGY]: eulogy,
};

// ---------------------------------------------------------------- timeline and themes

function timelineOf(memories: readonly Memory[]): StoryTimelineEntry[] {
  const byDate = new Map<string, Memory[]>();
  for (const memory of memories) {
    if (!memory.when) continue;
    const same = byDate.get(memory.when.key);
    if (same) same.push(memory);
    else byDate.set(memory.when.key, [memory]);
  }
  // `memories` is sorted, so the map's insertion order is already chronological.
  return [...byDate].map(([date, group]) => {
    const labels = group.slice(0, 3).map((memory, i) => placed(memory, i === 0 ? memory.label : inSentence(memory.label)));
    if (group.length > 3) labels.push(count(group.length - 3, 'more memory', 'more memories'));
    const last = labels.pop() ?? '';
    return {
      date,
      title: clip(labels.length ? `${labels.join(', ')} and ${last}` : last, 160),
      description: group.map((memory) => excerpt(memory.source)).find((text) => text !== null) ?? null,
      assetIds: group.map((memory) => memory.source.id),
    };
  });
}

/**
 * What the local describer measures rather than sees (src/ai/local/image-tags.ts): colours,
 * shape, tone, "document", and decade and season from the date. Facts of the pixels or the
 * calendar, not of a life: a theme is never "blue" or "landscape". Excluded as tags and as that
 * describer's captions, whatever provider attached them; the same words in people's own text
 * (a transcript, a letter, a caption someone wrote) still count.
 */
const MEASURED_TAGS: ReadonlySet<string> = new Set([
  // The object model's "person": in nearly every photo of a family, so never what a life was about.
  'person',
  ...['red', 'orange', 'yellow', 'green', 'teal', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'grey', 'gray'],
  ...['portrait', 'landscape', 'square', 'panorama'],
  ...['black and white', 'sepia', 'document'],
  ...['winter', 'spring', 'summer', 'autumn'],
]);
const DECADE_TAG = /^\d{3,4}s$/;
/** The local describer's caption, which only restates those facts ("A mostly blue photograph from the 1960s, taken in summer."). */
const MEASURED_CAPTION =
  /^(?:A page of text(?:, captured in the \d{3,4}s)?|An? (?:(?:black-and-white|sepia|mostly [a-z]+|panoramic) )*photograph(?: from the \d{3,4}s)?(?:,? taken in (?:winter|spring|summer|autumn))?)\.$/;

/** Whether a tag is one of the describer's measurements rather than something about the memory. */
export function isMeasuredTag(tag: string): boolean {
  const name = tag.trim().toLowerCase();
  return MEASURED_TAGS.has(name) || DECADE_TAG.test(name);
}

function themesOf(memories: readonly Memory[], name: string): StoryTheme[] {
  const docs = memories.map(({ source }) =>
    [
      source.transcript,
      source.text,
      source.caption && !MEASURED_CAPTION.test(source.caption.trim()) ? source.caption : null,
      ...source.tags.filter((tag) => !isMeasuredTag(tag)),
    ].filter((text): text is string => Boolean(text)),
  );
  const exclude = new Set(name.toLowerCase().split(/[^\p{L}]+/u).filter(Boolean));
  const hits = topKeywords(docs, { max: 6, minDocs: Math.min(2, memories.length), exclude });
  return hits.map(({ keyword, docs: indices }) => {
    const matched = indices.map((index) => memories[index]).filter((memory): memory is Memory => memory !== undefined);
    const years = matched.flatMap((memory) => (memory.when ? [memory.when.year] : []));
    const first = years.length ? Math.min(...years) : null;
    const last = years.length ? Math.max(...years) : null;
    const range = first === null ? '' : first === last ? `, from ${first}` : `, from ${first} to ${last}`;
    return {
      name: keyword,
      description: `Appears in ${matched.length} ${matched.length === 1 ? 'memory' : 'memories'}${range}.`,
      assetIds: matched.map((memory) => memory.source.id),
    };
  });
}
