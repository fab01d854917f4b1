import { FileType } from '../../../db/enums.js';
import type { StoryContext, StoryMemory } from '../../ai.port.js';

/**
 * What a memory book is made of, gathered from the writer's view of the chest: events (memories
 * of one day and place, copies of one picture counted once), the quotable words people wrote or
 * said, and the guests' messages. Nothing here is measured from pixels: machine captions, colours,
 * tones and seasons are not material.
 */

export interface When {
  key: string;
  year: number;
  month: number | null;
  day: number | null;
}

export type QuoteSource = 'letter' | 'document' | 'recording' | 'video';

/** People's own words, verbatim (whitespace collapsed), with the memory they stand in. */
export interface Quote {
  text: string;
  source: QuoteSource;
  id: string;
  /** The sentence names or addresses the person: why it was chosen. */
  aboutPerson: boolean;
  contributor: string | null;
}

export interface BookEvent {
  /** Every memory of the event, copies included: all are cited. */
  ids: string[];
  when: When | null;
  /** As the family typed it. */
  place: string | null;
  /** How many of each kind, a picture and its copies once. */
  kinds: Map<FileType, number>;
  /** Captions people wrote (never a machine's), distinct. */
  captions: string[];
  /** Tags people gave its memories (never the AI's or EXIF's), distinct: words for themes, not sentences. */
  ownTags: string[];
  /** People named in it, not the person remembered. */
  people: string[];
  quotes: Quote[];
  /** Someone speaks in it (a transcript, rough or not): worth telling even when nothing can be quoted. */
  heard: boolean;
  afterPassing: boolean;
}

export interface Message {
  contributor: string;
  relationship: string | null;
  /** The guest's message, whitespace collapsed. */
  text: string;
  ids: string[];
}

export interface Material {
  name: string;
  first: string;
  /** Lower-case words of the person's name, for choosing sentences about them. */
  nameWords: string[];
  life: BookEvent[];
  after: BookEvent[];
  messages: Message[];
}

export function parseDate(date: string | null | undefined): When | null {
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

const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

/** Sentences as they stand in the (whitespace-collapsed) text, so a quote is a verbatim excerpt. */
export function sentences(text: string): string[] {
  return (squash(text).match(/[^.!?]+(?:[.!?]+["'”’)]*|$)/g) ?? []).map((s) => s.trim()).filter(Boolean);
}

/** A sentence worth quoting: long enough to say something, short enough to read, and words rather than OCR noise. */
function readable(sentence: string, maxChars: number): boolean {
  const letters = sentence.replace(/[^\p{L}]/gu, '').length;
  return sentence.length >= 20 && sentence.length <= maxChars && sentence.split(' ').length >= 4 && letters / sentence.length >= 0.7 && !/[“”"]/.test(sentence);
}

function aboutPerson(sentence: string, nameWords: readonly string[]): boolean {
  const words = sentence.toLowerCase().match(/\p{L}+/gu) ?? [];
  return words.some((w) => nameWords.includes(w) || w === 'you' || w === 'your');
}

/** The best sentences of a text for a book about this person: those naming or addressing them first, then in order. */
function quotesOf(memory: StoryMemory, nameWords: readonly string[]): Quote[] {
  const found: Quote[] = [];
  const add = (text: string | null, source: QuoteSource) => {
    for (const sentence of sentences(text ?? '')) {
      if (!readable(sentence, 240)) continue;
      found.push({ text: sentence, source, id: memory.id, aboutPerson: aboutPerson(sentence, nameWords), contributor: memory.contributor });
    }
  };
  // A rough transcript's words are a machine's guesses: never quoted.
  if (!memory.roughTranscript) add(memory.transcript, memory.kind === FileType.VIDEO ? 'video' : 'recording');
  add(memory.text, /^\s*(?:my\s+)?(?:dear|dearest)\b/i.test(memory.text ?? '') ? 'letter' : 'document');
  return found.sort((a, b) => Number(b.aboutPerson) - Number(a.aboutPerson));
}

function personCaption(memory: StoryMemory): string | null {
  if (memory.machineCaption) return null;
  const caption = squash(memory.caption ?? '').replace(/[.!?]+$/, '');
  return caption || null;
}

/** Copies of one picture become one unit; its date is the earliest any copy has. */
function units(memories: readonly StoryMemory[]): StoryMemory[][] {
  const byGroup = new Map<string, StoryMemory[]>();
  const out: StoryMemory[][] = [];
  for (const memory of memories) {
    const group = memory.duplicateGroup;
    if (group === undefined) {
      out.push([memory]);
      continue;
    }
    const same = byGroup.get(group);
    if (same) same.push(memory);
    else {
      const unit = [memory];
      byGroup.set(group, unit);
      out.push(unit);
    }
  }
  return out;
}

const dateOf = (unit: readonly StoryMemory[]) =>
  unit.map((m) => parseDate(m.date)).filter((w): w is When => w !== null).sort((a, b) => compare(a.key, b.key))[0] ?? null;

export function gather(context: StoryContext): Material {
  const name = context.person.name.trim() || 'this person';
  const nameWords = name.toLowerCase().match(/\p{L}+/gu) ?? [];
  const seen = new Set<string>();
  // In date order whatever order the days came in. Within a day the context's order stands: it is
  // the order they were taken (buildStoryContext sorts by the time taken, then when added, then
  // id), which a day's date alone (YYYY-MM-DD) cannot tell. Sorting is stable, so which copy leads
  // its group, whose caption tells it and whose name comes first follow the day as it happened.
  const dateKey = (m: StoryMemory) => parseDate(m.date)?.key ?? '\uffff';
  const memories = context.memories.filter((m) => !seen.has(m.id) && seen.add(m.id)).sort((a, b) => compare(dateKey(a), dateKey(b)));
  const passing = parseDate(context.person.passingDate);

  const events: BookEvent[] = [];
  const byKey = new Map<string, BookEvent>();
  const sorted = units(memories)
    .map((unit) => ({ unit, when: dateOf(unit) }))
    .sort((a, b) => compare(a.when?.key ?? '\uffff', b.when?.key ?? '\uffff'));
  for (const { unit, when } of sorted) {
    const lead = unit[0]!;
    const place = squash(unit.find((m) => m.place?.trim())?.place ?? '') || null;
    // One day and place is one event; a memory without a full date stands alone.
    const key = when?.day != null ? `${when.key}|${place?.toLowerCase() ?? ''}` : null;
    let event = key ? byKey.get(key) : undefined;
    if (!event) {
      const afterPassing = unit.some((m) => m.afterPassing) || (passing?.day != null && when?.day != null && when.key > passing.key);
      event = { ids: [], when, place, kinds: new Map(), captions: [], ownTags: [], people: [], quotes: [], heard: false, afterPassing };
      events.push(event);
      if (key) byKey.set(key, event);
    }
    event.ids.push(...unit.map((m) => m.id));
    event.kinds.set(lead.kind, (event.kinds.get(lead.kind) ?? 0) + 1);
    // Copies of one picture are told once: the first caption any copy has.
    const caption = unit.map(personCaption).find((c) => c !== null);
    if (caption && !event.captions.some((c) => c.toLowerCase() === caption.toLowerCase())) event.captions.push(caption);
    for (const m of unit) {
      for (const tag of m.ownTags ?? []) if (!event.ownTags.some((t) => t.toLowerCase() === tag.toLowerCase())) event.ownTags.push(tag);
      for (const person of m.people ?? []) {
        if (person.toLowerCase() !== name.toLowerCase() && !event.people.includes(person)) event.people.push(person);
      }
    }
    if (unit.some((m) => m.transcript?.trim())) event.heard = true;
    // The copies hold the same words; one is enough.
    event.quotes.push(...quotesOf(lead, nameWords));
  }

  const messages: Message[] = [];
  const byContribution = new Map<string, Message>();
  for (const m of memories) {
    if (!m.contribution) continue;
    const known = byContribution.get(m.contribution.id);
    if (known) {
      known.ids.push(m.id);
      continue;
    }
    const text = squash(m.contribution.message ?? '');
    const message = { contributor: m.contributor?.trim() || 'A friend', relationship: m.relationship?.trim() || null, text, ids: [m.id] };
    byContribution.set(m.contribution.id, message);
    if (text) messages.push(message);
  }

  return {
    name,
    first: name.split(' ')[0] ?? name,
    nameWords,
    life: events.filter((e) => !e.afterPassing),
    after: events.filter((e) => e.afterPassing),
    messages,
  };
}

/** Whether an event holds anything people said about it (more than its kind and date). */
export function hasWords(event: BookEvent): boolean {
  return event.captions.length > 0 || event.people.length > 0 || event.quotes.length > 0 || event.place !== null || event.heard;
}
