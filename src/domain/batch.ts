import type { EntityClass, EntityDictionary } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Page } from './pagination.js';

/** Groups items by a key, keeping first-seen order; batch loaders run one statement per group. */
export function groupBy<T>(items: readonly T[], key: (item: T) => string): T[][] {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const g = groups.get(k);
    if (g) g.push(item);
    else groups.set(k, [item]);
  }
  return [...groups.values()];
}

/**
 * Turns windowed rows (`row_number() ... as rn__`) into entities grouped by chest_id, keeping
 * their order. The rows' columns are the entity's columns plus rn__.
 */
export function entitiesByChest<T extends object>(
  em: EntityManager,
  entity: EntityClass<T>,
  rows: readonly Record<string, unknown>[],
): Map<string, T[]> {
  const byChest = new Map<string, T[]>();
  for (const { rn__: _rn, ...row } of rows) {
    const chestId = row.chest_id as string;
    const list = byChest.get(chestId);
    const node = em.map(entity, row as EntityDictionary<T>);
    if (list) list.push(node);
    else byChest.set(chestId, [node]);
  }
  return byChest;
}

/**
 * A Postgres array literal for `= any(?::type[])`. MikroORM expands JS arrays into `?, ?, ?`
 * lists, which would make the SQL text (and the plan cache) vary with the number of rows.
 */
export function pgArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

/**
 * Cuts each requester's rows (fetched limit + 1 deep) into a page: `limit` items with their
 * cursors, and whether more exist.
 */
export function pagesFor<K extends { chestId: string }, T>(
  keys: readonly K[],
  byChest: Map<string, T[]>,
  limit: number,
  cursorOf: (node: T) => string,
): Map<K, Page<T>> {
  const pages = new Map<K, Page<T>>();
  for (const key of keys) {
    const list = byChest.get(key.chestId) ?? [];
    pages.set(key, { items: list.slice(0, limit).map((node) => ({ node, cursor: cursorOf(node) })), hasNextPage: list.length > limit });
  }
  return pages;
}
