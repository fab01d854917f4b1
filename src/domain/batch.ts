import type { EntityClass, EntityDictionary } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';

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
