import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { type Condition, entitiesByChest, groupBy, lateralPages, pagesFor } from '../batch.js';
import { readColumns } from '../read-model.js';
import { decodeCursor, encodeCursor, type Page } from '../pagination.js';

/** One page request of one chest's bin. */
export interface BinPageKey {
  chestId: string;
  limit: number;
  after?: string | null;
}

const binCursor = (a: Asset): string => encodeCursor({ c: a.deletedAt!.toISOString(), i: a.id });

/**
 * Pages of binned memories for many chests, newest deletion first: one statement per distinct
 * (limit, after), each chest's page read from asset_chest_bin_idx and stopping at the limit.
 */
export async function loadBinPages(em: EntityManager, keys: readonly BinPageKey[]): Promise<Page<Asset>[]> {
  const results = new Map<BinPageKey, Page<Asset>>();
  for (const group of groupBy(keys, (k) => JSON.stringify([k.limit, k.after ?? null]))) {
    const { limit, after } = group[0]!;
    const cursor = decodeCursor(after);
    const conditions: Condition[] = cursor ? [{ sql: '(a.deleted_at, a.id) < (?::timestamptz, ?::uuid)', params: [cursor.c, cursor.i] }] : [];
    const { sql, params } = lateralPages({
      parents: group.map((k) => k.chestId),
      from: 'asset a',
      alias: 'a',
      ofParent: 'a.chest_id = k__.parent',
      where: ['a.deleted_at is not null'],
      conditions,
      orderBy: 'a.deleted_at desc, a.id desc',
      select: readColumns(em, Asset, 'a'),
      limit: limit + 1,
    });
    const rows = await em.execute<Record<string, unknown>[]>(sql, params);
    const byChest = entitiesByChest(em, Asset, rows);
    for (const [key, page] of pagesFor(group, byChest, limit, binCursor)) results.set(key, page);
  }
  return keys.map((k) => results.get(k)!);
}
