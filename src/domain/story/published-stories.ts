import type { EntityManager } from '@mikro-orm/postgresql';
import { Story } from '../../db/entities/index.js';
import { pgArray } from '../batch.js';

/**
 * Published stories by id, for the per-request loader: one statement however many chests asked.
 * Only a story still marked published answers; any other id answers null. Who may read a
 * chest's published story is the caller's question (chest.nested.ts publishedStoryOf).
 */
export async function loadPublishedStories(em: EntityManager, ids: readonly string[]): Promise<(Story | null)[]> {
  const rows = await em.execute<Record<string, unknown>[]>('select s.* from story s where s.id = any(?::uuid[]) and s.published', [pgArray(ids)]);
  const byId = new Map(rows.map((r) => [r.id as string, em.map(Story, r)]));
  return ids.map((id) => byId.get(id) ?? null);
}
