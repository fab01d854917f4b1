import type { EntityManager } from '@mikro-orm/postgresql';
import type { Theme, TimelineEntry } from '../../db/entities/story.types.js';
import { pgArray } from '../batch.js';
import { hiddenNamesOfChests, nameScrubber } from '../story/hidden-names.js';

/**
 * The search rows of stories (search_entry, field STORY). Unlike the other sources (kept by
 * triggers, migration search_entries) a story is indexed as it is read: with the names of hidden
 * people rewritten (domain/story/hidden-names.ts), so a search never finds a story by a name it
 * does not show. So the rows are rebuilt when a story is written or edited, and all of a chest's
 * when whom it hides or names changes (people, the chest's person name).
 */

interface StoryRow {
  id: string;
  chest_id: string;
  title: string;
  content: string;
  timeline: TimelineEntry[];
  themes: Theme[];
}

/** Rebuilds the rows of these stories (by id) or of every story of these chests; only finished stories have any. */
export async function indexStories(em: EntityManager, of: { storyIds?: readonly string[]; chestIds?: readonly string[] }): Promise<void> {
  const storyIds = of.storyIds ?? [];
  const chestIds = of.chestIds ?? [];
  if (storyIds.length === 0 && chestIds.length === 0) return;
  const rows = await em.execute<StoryRow[]>(
    `select s.id, s.chest_id, s.title, s.content, s.timeline, s.themes from story s
     where (s.id = any(?::uuid[]) or s.chest_id = any(?::uuid[])) and s.status = 'READY'`,
    [pgArray(storyIds), pgArray(chestIds)],
  );
  const chests = [...new Set(rows.map((r) => r.chest_id))];
  const scrubbers = new Map((await hiddenNamesOfChests(em, chests)).map((names, i) => [chests[i]!, nameScrubber(names)]));
  await em.execute('delete from search_entry where story_id = any(?::uuid[]) or (story_id is not null and chest_id = any(?::uuid[]))', [
    pgArray(storyIds),
    pgArray(chestIds),
  ]);
  if (rows.length === 0) return;
  const texts = rows.map((r) => scrubbers.get(r.chest_id)!(storyText(r)));
  await em.execute(
    `insert into search_entry (chest_id, story_id, field, text)
     select t.chest_id, t.story_id, 'STORY', t.text from unnest(?::uuid[], ?::uuid[], ?::text[]) as t(chest_id, story_id, text)`,
    [pgArray(rows.map((r) => r.chest_id)), pgArray(rows.map((r) => r.id)), pgArray(texts)],
  );
}

/**
 * Finished stories with no rows yet (written before search existed, or whose rows a crash lost
 * between an edit and its indexing): indexed when the worker starts, a thousand at a time.
 */
export async function indexStoriesNotIndexed(em: EntityManager): Promise<number> {
  let total = 0;
  for (;;) {
    const rows = await em.execute<{ id: string }[]>(
      `select s.id from story s where s.status = 'READY' and not exists (select 1 from search_entry e where e.story_id = s.id) limit 1000`,
    );
    if (rows.length > 0) await em.transactional((tx) => indexStories(tx, { storyIds: rows.map((r) => r.id) }));
    total += rows.length;
    if (rows.length < 1000) return total;
  }
}

/** Everything a reader of the story reads: title, narrative, timeline and themes. */
function storyText(s: StoryRow): string {
  const parts = [s.title, s.content];
  for (const t of s.timeline ?? []) parts.push(t.title, t.description ?? '');
  for (const t of s.themes ?? []) parts.push(t.name, t.description ?? '');
  return parts.filter((p) => p && p.trim()).join('\n\n');
}
