import type { EntityManager } from '@mikro-orm/postgresql';
import type { EntityClass } from '@mikro-orm/core';
import { type Condition, entitiesByChest, groupBy, lateralPages, pagesFor, type Query, runQuery } from './batch.js';
import { readColumns } from './read-model.js';
import { decodeCursor, encodeCursor, type Page } from './pagination.js';

/** One page request of one chest's children (stories, contributions, archives), newest first. */
export interface ChildPageKey {
  chestId: string;
  limit: number;
  after?: string | null;
  /** Optional equality filter on the status column. */
  status?: string | null;
  /** Stories only: leave out unpublished ones (for readers who are not members). */
  publishedOnly?: boolean;
}

/**
 * Pages of rows that belong to chests, ordered (created_at desc, id desc): one statement per
 * distinct (limit, after, status), however many chests asked, each chest's page read backwards
 * from its (chest_id, created_at, id) index (with status: (chest_id, status, created_at, id)).
 */
export async function loadChildPages<T extends { id: string; createdAt: Date; chest: { id: string } }>(
  em: EntityManager,
  entity: EntityClass<T>,
  table: ChildTable,
  keys: readonly ChildPageKey[],
): Promise<Page<T>[]> {
  const results = new Map<ChildPageKey, Page<T>>();
  for (const group of groupBy(keys, (k) => JSON.stringify([k.limit, k.after ?? null, k.status ?? null, k.publishedOnly ?? false]))) {
    for (const [key, page] of await runQuery(em, childPagesQuery({ em, entity, table, group }))) results.set(key, page);
  }
  return keys.map((k) => results.get(k)!);
}

export type ChildTable = 'story' | 'contribution' | 'chest_export';

export interface ChildPagesInput<T> {
  em: EntityManager;
  entity: EntityClass<T>;
  table: ChildTable;
  /** Keys with equal (limit, after, status, publishedOnly). */
  group: readonly ChildPageKey[];
}

/** The statement of loadChildPages for one group of equal keys, one page per key. */
export function childPagesQuery<T extends { id: string; createdAt: Date; chest: { id: string } }>({
  em,
  entity,
  table,
  group,
}: ChildPagesInput<T>): Query<Map<ChildPageKey, Page<T>>> {
  const { limit, after, status, publishedOnly } = group[0]!;
  const conditions: Condition[] = [];
  if (status) conditions.push({ sql: 'x.status = ?', params: [status] });
  const cursor = decodeCursor(after);
  if (cursor) conditions.push({ sql: '(x.created_at, x.id) < (?::timestamptz, ?::uuid)', params: [cursor.c, cursor.i] });
  const { sql, params } = lateralPages({
    parents: group.map((k) => k.chestId),
    from: `"${table}" x`,
    alias: 'x',
    ofParent: 'x.chest_id = k__.parent',
    where: publishedOnly ? ['x.published'] : [],
    conditions,
    orderBy: 'x.created_at desc, x.id desc',
    select: readColumns(em, entity, 'x'),
    limit: limit + 1,
  });
  const cursorOf = (node: T) => encodeCursor({ c: node.createdAt.toISOString(), i: node.id });
  return { sql, params, read: (rows) => pagesFor(group, entitiesByChest(em, entity, rows), limit, cursorOf) };
}
