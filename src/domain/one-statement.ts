import type { EntityManager } from '@mikro-orm/postgresql';
import { executeParameterised } from '../db/parameterised.js';
import type { Query } from './batch.js';

export type Results<Q extends Record<string, Query<unknown>>> = { [K in keyof Q]: ReturnType<Q[K]['read']> };

/**
 * Several reads in one statement and one round trip: each query becomes a column holding its rows
 * as a JSON array (`json_agg` over the query, in the query's order), and each is read by its own
 * `read`. For a request that knows ahead everything it will load (graphql/compiled/): PostGraphile
 * answers a nested chest query with one statement where the batch loaders, each running its own,
 * took five; per statement Postgres parses, plans and answers once more (issue 14).
 *
 * Rows come as json_agg writes them, not as the driver would: timestamps in ISO form and counts
 * and bigints as numbers. Every `read` given here must accept both (fromColumns and Number do).
 */
export async function runAsOne<Q extends Record<string, Query<unknown>>>(em: EntityManager, queries: Q): Promise<Results<Q>> {
  const names = Object.keys(queries);
  if (names.length === 0) return {} as Results<Q>;
  const params: unknown[] = [];
  const columns = names.map((name, i) => {
    const query = queries[name]!;
    params.push(...query.params);
    // An aggregate over an ordered subquery keeps the subquery's order (Postgres reads it as it comes, in one process).
    return `(select coalesce(json_agg(q${i}__), '[]'::json) from (${query.sql}) q${i}__) as "${i}"`;
  });
  const [row] = await executeParameterised<Record<string, unknown>>(em, `select ${columns.join(', ')}`, params);
  const results: Record<string, unknown> = {};
  names.forEach((name, i) => {
    const value = row![String(i)];
    const rows = (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>[];
    results[name] = queries[name]!.read(rows);
  });
  return results as Results<Q>;
}
