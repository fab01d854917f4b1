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
 * Turns page rows into entities grouped by chest_id, keeping their order. The rows' columns are
 * the entity's columns.
 */
export function entitiesByChest<T extends object>(
  em: EntityManager,
  entity: EntityClass<T>,
  rows: readonly Record<string, unknown>[],
): Map<string, T[]> {
  const byChest = new Map<string, T[]>();
  for (const row of rows) {
    const chestId = row.chest_id as string;
    const list = byChest.get(chestId);
    const node = em.map(entity, row as EntityDictionary<T>);
    if (list) list.push(node);
    else byChest.set(chestId, [node]);
  }
  return byChest;
}

/** One statement that reads the first rows of many parents' lists (lateralPagesSql). */
export interface LateralPages {
  /** The rows' table and its alias, e.g. `asset a`. */
  from: string;
  /** The alias of `from`, also the alias of the result rows. */
  alias: string;
  /** What ties a row to its parent's id, `k__.parent`: e.g. `a.chest_id = k__.parent`. */
  ofParent: string;
  /** Conditions on the rows besides the parent (alias `alias`), with their ? placeholders. */
  where: readonly string[];
  /** The list's order, in terms of `alias`'s columns; an index on (parent, order) makes it cheap. */
  orderBy: string;
  /** Extra columns to select beside `alias.*` (aliased, e.g. `k__.parent as person__`). */
  extra?: string;
}

/**
 * Pages of many parents in one statement: for each parent id (the first ?, a uuid array) a
 * `LATERAL (… where <of parent> … ORDER BY … LIMIT ?)`, so each parent's page comes from an index
 * on (parent, order) read in order and stops at the limit (the last ?). A window function
 * (`row_number() over (partition by parent …)`) would sort every row of the parent for one page.
 * Rows come out parent by parent, in the order given, each parent's in `orderBy`. Parameters, in
 * order: the parent ids (pgArray of distinct ids), the `where` parameters, the limit.
 */
export function lateralPagesSql({ from, alias, ofParent, where, orderBy, extra }: LateralPages): string {
  return `select ${alias}.*${extra ? `, ${extra}` : ''}
    from unnest(?::uuid[]) with ordinality as k__(parent, n__)
    cross join lateral (
      select ${alias}.* from ${from} where ${[ofParent, ...where].join(' and ')}
      order by ${orderBy} limit ?
    ) ${alias}
    order by k__.n__, ${orderBy}`;
}

/** The distinct values, first-seen order (a parent asked twice in one batch is read once). */
export const distinct = (values: readonly string[]): string[] => [...new Set(values)];

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
