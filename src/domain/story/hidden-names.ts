import type { EntityManager } from '@mikro-orm/postgresql';
import type { StoryContext, StoryDraft } from '../../ai/ai.port.js';
import { pgArray, type Query, runQuery } from '../batch.js';

/**
 * Consent in words: a person the family hid (hidePerson) is never named in a story. The people
 * list the writer gets already leaves them out (namedPeopleIn), but their name can still stand in
 * what people typed — a caption, a tag, the chest's description — or in a letter's text or a
 * transcript. Those words are rewritten before the writer sees them, and what it writes is
 * checked again (a remote model may guess a name from elsewhere). Stories are also scrubbed as
 * they are read (graphql/story.resolver.ts): one written, or edited by hand, before someone was
 * hidden no longer names them either.
 */

/** What a hidden name becomes: the sentence keeps its shape and says nobody's name. */
export const UNNAMED = 'someone';
/** Words of a name that say how someone is related, not who they are ("Aunt May": "May" is the name). */
const NOT_A_NAME = new Set(['aunt', 'auntie', 'uncle', 'grandma', 'grandpa', 'granny', 'grandad', 'grandmother', 'grandfather', 'nana', 'nan', 'papa', 'mama', 'mum', 'mom', 'dad', 'mr', 'mrs', 'ms', 'miss', 'dr', 'sir', 'lady', 'cousin', 'little', 'big', 'the', 'and', 'of']);

export interface HiddenNames {
  /** Whole names of hidden people, matched in any case. */
  whole: readonly string[];
  /**
   * Single words of those names ("Rose" of "Rose Smith"), matched as written with a capital:
   * "rose" the flower stays. A word that is also in the name of someone shown, or of the person
   * the chest remembers, stays too ("Smith" when "Mary Smith" is shown): removing it would unname
   * them, and the word alone does not say which of them is meant.
   */
  words: readonly string[];
}

/** The names a story of this chest must not contain. */
export async function hiddenNamesOf(em: EntityManager, chest: { id: string }): Promise<HiddenNames> {
  return (await hiddenNamesOfChests(em, [chest.id]))[0]!;
}

/** hiddenNamesOf for many chests, in one statement (a request's stories are scrubbed as they are read). */
export async function hiddenNamesOfChests(em: EntityManager, chestIds: readonly string[]): Promise<HiddenNames[]> {
  return runQuery(em, hiddenNamesQuery(chestIds));
}

/** The statement of hiddenNamesOfChests. */
export function hiddenNamesQuery(chestIds: readonly string[]): Query<HiddenNames[]> {
  type Row = { id: string; person_name: string; name: string | null; hidden: boolean | null };
  const read = (rows: Record<string, unknown>[]): HiddenNames[] =>
    chestIds.map((id) => {
      const mine = (rows as Row[]).filter((r) => r.id === id);
      const named = mine.filter((r) => r.name !== null);
      return hiddenNames({
        hidden: named.filter((r) => r.hidden).map((r) => r.name!),
        shown: [...mine.slice(0, 1).map((r) => r.person_name), ...named.filter((r) => !r.hidden).map((r) => r.name!)],
      });
    });
  return {
    sql: 'select c.id, c.person_name, p.name, p.hidden from chest c left join person p on p.chest_id = c.id and p.name is not null where c.id = any(?::uuid[])',
    params: [pgArray(chestIds)],
    read,
  };
}

/** Pure part of hiddenNamesOf. */
export function hiddenNames(input: { hidden: readonly string[]; shown: readonly string[] }): HiddenNames {
  const wordsOf = (name: string) => name.split(/[^\p{L}\p{M}'’-]+/u).filter((w) => w.length >= 2);
  const shownWords = new Set(input.shown.flatMap(wordsOf).map((w) => w.toLowerCase()));
  const shownWhole = new Set(input.shown.map((n) => n.trim().toLowerCase()));
  // The person the chest remembers is never unnamed in their own story, even when a face group bears their name and is hidden.
  const whole = [...new Set(input.hidden.map((n) => n.trim()).filter((n) => n.length >= 2 && !shownWhole.has(n.toLowerCase())))];
  const words = [...new Set(whole.flatMap(wordsOf))].filter((w) => /^\p{Lu}/u.test(w) && !NOT_A_NAME.has(w.toLowerCase()) && !shownWords.has(w.toLowerCase()));
  return { whole, words };
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** A function that rewrites every hidden name in a text; the identity when nobody named is hidden. */
export function nameScrubber(names: HiddenNames): (text: string) => string {
  if (names.whole.length === 0) return (text) => text;
  // Longest first, so "Rose Smith" goes as one before "Rose" could; letters on either side mean another word.
  const byLength = (a: string, b: string) => b.length - a.length;
  const edge = (alternatives: string[]) => `(?<![\\p{L}\\p{M}])(?:${alternatives.join('|')})(?![\\p{L}\\p{M}])`;
  const whole = new RegExp(edge([...names.whole].sort(byLength).map((n) => escape(n).replace(/\s+/g, '\\s+'))), 'giu');
  const words = names.words.length > 0 ? new RegExp(edge([...names.words].sort(byLength).map(escape)), 'gu') : null;
  // At the start of a sentence it is "Someone".
  const replace = (match: string, offset: number, text: string) => (/(^|[.!?]["'’”)]?\s+|\n\s*)$/u.test(text.slice(0, offset)) ? `${UNNAMED[0]!.toUpperCase()}${UNNAMED.slice(1)}` : UNNAMED);
  return (text) => {
    const once = text.replace(whole, replace);
    return words ? once.replace(words, replace) : once;
  };
}

/** The writer's view of the chest with hidden names rewritten in everything people or machines wrote. */
export function scrubContext(context: StoryContext, scrub: (text: string) => string): StoryContext {
  const maybe = (text: string | null) => (text === null ? null : scrub(text));
  return {
    person: { ...context.person, description: maybe(context.person.description) },
    memories: context.memories.map((m) => ({
      ...m,
      caption: maybe(m.caption),
      place: m.place === undefined ? undefined : maybe(m.place),
      tags: m.tags.map(scrub).filter((t) => t.toLowerCase() !== UNNAMED),
      ...(m.ownTags && { ownTags: m.ownTags.map(scrub).filter((t) => t.toLowerCase() !== UNNAMED) }),
      transcript: maybe(m.transcript),
      text: maybe(m.text),
      contributor: maybe(m.contributor),
      relationship: maybe(m.relationship),
      ...(m.contribution && { contribution: { ...m.contribution, message: maybe(m.contribution.message) } }),
    })),
  };
}

/** What the writer wrote, checked again: a hidden name it produced anyway is rewritten. */
export function scrubDraft(draft: StoryDraft, scrub: (text: string) => string): StoryDraft {
  const maybe = (text: string | null) => (text === null ? null : scrub(text));
  return {
    ...draft,
    title: scrub(draft.title),
    paragraphs: draft.paragraphs.map((p) => ({ ...p, text: scrub(p.text) })),
    timeline: draft.timeline.map((t) => ({ ...t, title: scrub(t.title), description: maybe(t.description) })),
    themes: draft.themes.map((t) => ({ ...t, name: scrub(t.name), description: maybe(t.description) })),
  };
}
