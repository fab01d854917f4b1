import type { EntityManager } from '@mikro-orm/postgresql';
import { Contribution, Story } from '../../db/entities/index.js';
import { pgArray } from '../batch.js';
import { readModel } from '../read-model.js';

/**
 * The stories and contributions search hits came from, by id, for the per-request loaders: one
 * statement per kind however many hits. No access rule here: only ids the search statement
 * itself let the caller find are asked for (search.queries.ts).
 */
export async function loadStoriesById(em: EntityManager, ids: readonly string[]): Promise<(Story | null)[]> {
  const rows = await em.execute<Record<string, unknown>[]>('select s.* from story s where s.id = any(?::uuid[])', [pgArray(ids)]);
  const byId = new Map(rows.map((r) => [r.id as string, readModel(em, Story, r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

export async function loadContributionsById(em: EntityManager, ids: readonly string[]): Promise<(Contribution | null)[]> {
  const rows = await em.execute<Record<string, unknown>[]>('select c.* from contribution c where c.id = any(?::uuid[])', [pgArray(ids)]);
  const byId = new Map(rows.map((r) => [r.id as string, readModel(em, Contribution, r)]));
  return ids.map((id) => byId.get(id) ?? null);
}
