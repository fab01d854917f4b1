import { StoryStyle } from '../../../db/enums.js';
import type { StoryContext } from '../../ai.port.js';
import { type BookEvent, type Material, type Message, parseDate, type Quote, sentences } from './material.js';
import { capitalise, type Dates, dateText, fitting, forChild, kindList, listOf, onDate, placePart, quoteSource, sentence, whoSent } from './wording.js';

/** The four styles: what each says of an event, a quote, the passing and a message, and how long it may be. */

export interface Voice {
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

export const VOICES: Record<StoryStyle, Voice> = {
  [StoryStyle.COMPREHENSIVE]: comprehensive,
  [StoryStyle.BRIEF]: brief,
  [StoryStyle.FOR_CHILDREN]: forChildren,
  [StoryStyle.EULOGY]: eulogy,
};
