import type { EntityClass } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { executeParameterised } from '../db/parameterised.js';
import { lazyEdges, type Page } from './pagination.js';
import { fromColumns } from './read-model.js';

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
 * Turns page rows into read models (plain objects shaped like the entity, read-model.ts) grouped
 * by chest, keeping their order. The rows were selected with readColumns (lateralPages' `select`).
 */
export function entitiesByChest<T extends { chest: { id: string } }>(
  em: EntityManager,
  entity: EntityClass<T>,
  rows: readonly Record<string, unknown>[],
): Map<string, T[]> {
  const byChest = new Map<string, T[]>();
  for (const row of rows) {
    const node = fromColumns(em, entity, row);
    const chestId = node.chest.id;
    const list = byChest.get(chestId);
    if (list) list.push(node);
    else byChest.set(chestId, [node]);
  }
  return byChest;
}

/**
 * A statement with its ? parameters and how its rows are read. Batch loaders run one alone
 * (runQuery); a read that knows ahead all it will need nests several into one (one-statement.ts).
 */
export interface Query<T> {
  sql: string;
  params: readonly unknown[];
  /** Rows as the driver gives them, or as json_agg gives them (see one-statement.ts): both must read alike. */
  read: (rows: Record<string, unknown>[]) => T;
}

/** Runs a query with its parameters sent as parameters: one text for Postgres to plan once (db/parameterised.ts). */
export async function runQuery<T>(em: EntityManager, query: Query<T>): Promise<T> {
  return query.read(await executeParameterised<Record<string, unknown>>(em, query.sql, query.params));
}

/** A condition with its ? placeholders and their parameters, in order. */
export interface Condition {
  sql: string;
  params: readonly unknown[];
}

/** One statement that reads the first rows of many parents' lists (lateralPages). */
export interface LateralPages {
  /** The parents' ids (repeated ids are read once). */
  parents: readonly string[];
  /** The rows' table and its alias, e.g. `asset a`. */
  from: string;
  /** The alias of `from`, also the alias of the result rows. */
  alias: string;
  /** What ties a row to its parent's id, `k__.parent`: e.g. `a.chest_id = k__.parent`. */
  ofParent: string;
  /** Conditions on the rows besides the parent (alias `alias`), without placeholders. */
  where: readonly string[];
  /** Conditions with parameters, after `where`. */
  conditions?: readonly Condition[];
  /**
   * Alternatives, of which a row must meet one: each is read as its own range of the index,
   * in order and up to the limit, and the ranges are merged in order (a Merge Append). For a
   * keyset cursor over a nullable sort key, which no single condition on the index expresses.
   */
  anyOf?: readonly Condition[];
  /** The list's order, in terms of `alias`'s columns; an index on (parent, order) makes it cheap. */
  orderBy: string;
  /** Most rows per parent. */
  limit: number;
  /** The select list, in terms of `alias` (readColumns); `alias.*` when not given. */
  select?: string;
  /** Extra columns to select beside `select` (aliased, e.g. `k__.parent as person__`). */
  extra?: string;
}

/**
 * Pages of many parents in one statement: for each parent id a `LATERAL (… where <of parent> …
 * ORDER BY … LIMIT n)`, so each parent's page comes from an index on (parent, order) read in
 * order and stops at the limit. A window function (`row_number() over (partition by parent …)`)
 * would read and sort every row of the parent for one page. Rows come out parent by parent, in
 * the order given, each parent's in `orderBy`.
 */
export function lateralPages(q: LateralPages): { sql: string; params: unknown[] } {
  const params: unknown[] = [pgArray(distinct(q.parents))];
  const conditions = q.conditions ?? [];
  const branch = (alternative?: Condition): string => {
    const all = [...conditions, ...(alternative ? [alternative] : [])];
    for (const c of all) params.push(...c.params);
    params.push(q.limit);
    const where = [q.ofParent, ...q.where, ...all.map((c) => c.sql)].join(' and ');
    return `select ${q.alias}.* from ${q.from} where ${where} order by ${q.orderBy} limit ?`;
  };
  let page: string;
  if (q.anyOf && q.anyOf.length > 1) {
    const branches = q.anyOf.map((alternative) => `(${branch(alternative)})`).join(' union all ');
    params.push(q.limit);
    page = `select ${q.alias}.* from (${branches}) ${q.alias} order by ${q.orderBy} limit ?`;
  } else {
    page = branch(q.anyOf?.[0]);
  }
  const sql = `select ${q.select ?? `${q.alias}.*`}${q.extra ? `, ${q.extra}` : ''}
    from unnest(?::uuid[]) with ordinality as k__(parent, n__)
    cross join lateral (${page}) ${q.alias}
    order by k__.n__, ${q.orderBy}`;
  return { sql, params };
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
 * cursors (computed when read), and whether more exist.
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
    pages.set(key, { items: lazyEdges(list, limit, cursorOf), hasNextPage: list.length > limit });
  }
  return pages;
}
