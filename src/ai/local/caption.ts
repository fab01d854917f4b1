/**
 * A photo's caption composed from what is known of it: who is in it (people the family named),
 * what a model saw, where it was made in the family's words, and when. Nothing is guessed: with
 * nothing known there is no caption. Pure; the provider and the AI step decide what they pass.
 */

export interface CaptionObject {
  /** What was seen, in plain words, singular ("dog", "wine glass", "person"). */
  label: string;
  /** How many were seen; at least 1. */
  count: number;
}

export interface CaptionFacts {
  /** Names of the people recognised in it, as the family named them; empty when none are known. */
  people: readonly string[];
  /** What was seen, most certain first. "person" says someone is there whom nobody named. */
  objects: readonly CaptionObject[];
  /** Where it was made, in the family's words (Asset.place): never coordinates. */
  place: string | null;
  /** When it was made (camera wall-clock time stored as UTC, see media/exif.ts). */
  date: Date | null;
}

/** More than this many kinds of thing make a list nobody reads. */
const MAX_THINGS = 3;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'] as const;
/** Words that are already plural, or have no plural of their own. */
const PLURALS: Record<string, string> = { person: 'people', mouse: 'mice', 'computer mouse': 'computer mice', knife: 'knives', sheep: 'sheep', skis: 'skis', scissors: 'scissors', broccoli: 'broccoli' };
/** Said with "a pair of" when there is one. */
const PAIRS = new Set(['skis', 'scissors']);
/** Places the family wrote with their own preposition ("at Grandma's", "on the pier"). */
const PREPOSITION = /^(at|in|on|near|by|beside|outside|inside|behind|under|over|along|around|from|off)\s/i;

/**
 * One sentence, e.g. "Rose and Tom with a dog in Whitby, June 1962.", "People with a wine glass.",
 * "A dog.", "In Whitby, June 1962.", or null when nothing is known. Counts beyond one are not
 * written as numbers: the local detector misses people in crowded pictures (it never counted too
 * many on the photos measured, but often too few), so two or more is "people", "dogs".
 */
export function composeCaption(facts: CaptionFacts): string | null {
  const names = facts.people.map((n) => n.trim()).filter((n) => n.length > 0);
  const place = facts.place?.trim() || null;
  const date = facts.date && Number.isFinite(facts.date.getTime()) ? `${MONTHS[facts.date.getUTCMonth()]} ${facts.date.getUTCFullYear()}` : null;

  const objects = facts.objects.filter((o) => o.count > 0 && o.label.trim().length > 0);
  const persons = objects.filter((o) => o.label === 'person').reduce((n, o) => n + o.count, 0);
  let subject: string | null = null;
  if (names.length > 0) subject = list(persons > names.length ? [...names, 'others'] : names);
  else if (persons > 0) subject = phrase('person', persons);
  const things = objects
    .filter((o) => o.label !== 'person')
    .slice(0, MAX_THINGS)
    .map((o) => phrase(o.label.trim().toLowerCase(), o.count));

  let seen = subject ?? '';
  if (things.length > 0) seen = subject ? `${subject} with ${list(things)}` : list(things);
  const where = place ? (PREPOSITION.test(place) ? place : `in ${place}`) : null;

  let sentence = [seen, where].filter((s) => s).join(' ');
  if (date) sentence = sentence ? `${sentence}, ${date}` : date;
  if (!sentence) return null;
  return `${sentence.charAt(0).toUpperCase()}${sentence.slice(1)}.`;
}

/** "a dog", "an apple", "a pair of scissors"; more than one: "dogs", "people". */
function phrase(label: string, count: number): string {
  if (count > 1) return plural(label);
  if (PAIRS.has(label)) return `a pair of ${label}`;
  return `${/^[aeiou]/.test(label) ? 'an' : 'a'} ${label}`;
}

function plural(label: string): string {
  const known = PLURALS[label];
  if (known) return known;
  if (/(s|x|z|ch|sh)$/.test(label)) return `${label}es`;
  if (/[^aeiou]y$/.test(label)) return `${label.slice(0, -1)}ies`;
  return `${label}s`;
}

/** "a", "a and b", "a, b and c". */
function list(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? '';
  return `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`;
}
