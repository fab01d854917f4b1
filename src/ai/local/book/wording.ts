import { FileType } from '../../../db/enums.js';
import type { StoryContext } from '../../ai.port.js';
import { type BookEvent, type Message, type Material, parseDate, type Quote, type When } from './material.js';

/** How the book says things: counts, lists, dates, places, who sent a memory. */

export const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const NUMBERS = ['no', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];
const KIND: Record<FileType, [string, string]> = {
  [FileType.IMAGE]: ['a photo', 'photos'],
  [FileType.VIDEO]: ['a video', 'videos'],
  [FileType.AUDIO]: ['a recording', 'recordings'],
  [FileType.DOCUMENT]: ['a document', 'documents'],
};

export type Dates = 'full' | 'year';

export const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

export function count(n: number, [one, many]: [string, string]): string {
  return n === 1 ? one : `${NUMBERS[n] ?? String(n)} ${many}`;
}

export function kindList(kinds: Map<FileType, number>): string {
  return listOf([...kinds].map(([kind, n]) => count(n, KIND[kind])));
}

export function listOf(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

export function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function dateText(when: When, dates: Dates): string {
  if (dates === 'year' || when.month === null) return String(when.year);
  const month = MONTHS[when.month - 1]!;
  return when.day === null ? `${month} ${when.year}` : `${when.day} ${month} ${when.year}`;
}

/** "on 3 June 1962", "in June 1962", "in 1962". */
export function onDate(when: When, dates: Dates): string {
  return `${dates === 'full' && when.day !== null ? 'on' : 'in'} ${dateText(when, dates)}`;
}

// A place given as "in the garden" or "near the pier" keeps its own preposition; others get "at".
export const PREPOSITION = /^(?:at|in|on|near|by|from|outside|inside|behind|beside|under|over|around|along|across|between|off|towards?)\s/i;

export function at(place: string): string {
  const first = PREPOSITION.exec(place)?.[0];
  return first ? `${first.toLowerCase()}${place.slice(first.length)}` : `at ${place}`;
}

/** The place, unless every caption already names it. */
export function placePart(e: BookEvent): string | null {
  if (!e.place) return null;
  const place = e.place.replace(/[.!?,;:]+$/, '');
  return e.captions.some((c) => c.toLowerCase().includes(place.toLowerCase())) ? null : at(place);
}

export function lifeSpan(context: StoryContext): string {
  const born = parseDate(context.person.birthDate)?.year;
  const died = parseDate(context.person.passingDate)?.year;
  if (born !== undefined && died !== undefined) return `${born}–${died}`;
  if (born !== undefined) return `born ${born}`;
  if (died !== undefined) return `died ${died}`;
  return '';
}

export function sentence(text: string): string {
  const trimmed = text.replace(/\s+/g, ' ').trim();
  return !trimmed || /[.!?…"”’)]$/.test(trimmed) ? trimmed : `${trimmed}.`;
}

export function quoteSource(q: Quote): string {
  return q.source === 'letter' ? 'A letter' : q.source === 'document' ? 'A document' : q.source === 'video' ? 'A video' : 'A recording';
}

export function whoSent(msg: Message, m: Material, possessive = `${m.first}'s`): string {
  return msg.relationship ? `${msg.contributor}, ${possessive} ${msg.relationship},` : msg.contributor;
}

export const fitting = (caption: string, max: number) => caption.split(' ').length <= max;

// A month or a full date in people's words: denser than the years a child's book keeps to.
const DENSE_DATE = new RegExp(`\\b(?:${MONTHS.join('|')})\\b|\\b\\d{1,4}[/.-]\\d{1,2}(?:[/.-]\\d{1,4})?\\b`);
/** Words a child's book may use: no month, no full date, short enough to stay in a short sentence. */
export const forChild = (text: string, max = Infinity) => !DENSE_DATE.test(text) && fitting(text, max);
