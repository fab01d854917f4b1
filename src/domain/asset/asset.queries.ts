import type { EntityManager, FilterQuery } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { ContributionStatus, type FileType, type ProcessingStatus } from '../../db/enums.js';
import { type CursorKeys, decodeCursor, encodeCursor, type Page } from '../pagination.js';
import { type Condition, entitiesByChest, groupBy, lateralPages, pagesFor, pgArray, type Query, runQuery } from '../batch.js';
import { readColumns } from '../read-model.js';

/**
 * A memory is visible in its chest unless it is in the bin, or came with a contribution and
 * neither it alone (approveContributionMemory) nor its whole contribution is approved yet.
 * Every read of assets goes through this predicate (alias `a`).
 */
export const VISIBLE_ASSET_SQL = `a.deleted_at is null and (a.contribution_id is null or a.approved_at is not null or exists (
  select 1 from contribution c where c.id = a.contribution_id and c.status = 'APPROVED'))`;

/** VISIBLE_ASSET_SQL as an ORM filter on Asset, for em.find and em.count. */
export const VISIBLE_ASSET_FILTER = {
  deletedAt: null,
  $or: [{ contribution: null }, { approvedAt: { $ne: null } }, { contribution: { status: ContributionStatus.APPROVED } }],
} satisfies FilterQuery<Asset>;

export interface AssetFilter {
  fileTypes?: FileType[] | null;
  statuses?: ProcessingStatus[] | null;
}

/** One page request of one chest's assets; batches group requests with equal arguments. */
export interface AssetPageKey {
  chestId: string;
  limit: number;
  after?: string | null;
  filter: AssetFilter;
  /**
   * Only these properties of the page's memories (sorted; the others absent on them), for a
   * selection that reads no others: the GraphQL layer decides, from the fields asked. Absent: all.
   */
  properties?: readonly string[] | null;
}

export const assetCursor = (a: Asset): string =>
  encodeCursor({ d: a.dateTaken?.toISOString() ?? null, c: a.createdAt.toISOString(), i: a.id });

/** The chest's timeline order; asset_chest_timeline_idx (chest_id, then these) serves it. */
export const TIMELINE_ORDER = 'a.date_taken desc nulls last, a.created_at desc, a.id desc';

/**
 * Pages of assets for many chests: one statement per distinct (limit, after, filter), whatever
 * the number of chests, each chest's page read from the timeline index and stopping at the
 * limit. Order: date taken (newest first, undated last), then added, then id.
 */
export async function loadAssetPages(em: EntityManager, keys: readonly AssetPageKey[]): Promise<Page<Asset>[]> {
  const results = new Map<AssetPageKey, Page<Asset>>();
  for (const group of groupBy(keys, (k) => JSON.stringify([k.limit, k.after ?? null, k.filter, k.properties ?? null]))) {
    for (const [key, page] of await runQuery(em, assetPagesQuery(em, group))) results.set(key, page);
  }
  return keys.map((k) => results.get(k)!);
}

/** The statement of loadAssetPages for keys with equal (limit, after, filter, properties), one page per key. */
export function assetPagesQuery(em: EntityManager, group: readonly AssetPageKey[]): Query<Map<AssetPageKey, Page<Asset>>> {
  const { limit, after, filter, properties } = group[0]!;
  const cursor = decodeCursor(after);
  const { sql, params } = lateralPages({
    parents: group.map((k) => k.chestId),
    from: 'asset a',
    alias: 'a',
    ofParent: 'a.chest_id = k__.parent',
    where: [VISIBLE_ASSET_SQL],
    conditions: filterConditions(filter),
    anyOf: cursor ? keysetRanges(cursor) : undefined,
    orderBy: TIMELINE_ORDER,
    limit: limit + 1,
    select: readColumns(em, Asset, 'a', properties ? new Set(properties) : undefined),
  });
  return { sql, params, read: (rows) => pagesFor(group, entitiesByChest(em, Asset, rows), limit, assetCursor) };
}

/** Counts of visible assets per chest under a filter: one statement per distinct filter. */
export async function countAssets(em: EntityManager, keys: readonly { chestId: string; filter: AssetFilter }[]): Promise<number[]> {
  const counts = new Map<string, number>();
  for (const group of groupBy(keys, (k) => JSON.stringify(k.filter))) {
    const filter = filterConditions(group[0]!.filter);
    const params: unknown[] = [pgArray(group.map((k) => k.chestId)), ...filter.flatMap((c) => c.params)];
    const where = [`a.chest_id = any(?::uuid[])`, VISIBLE_ASSET_SQL, ...filter.map((c) => c.sql)];
    const rows = await em.execute<{ chest_id: string; n: string }[]>(
      `select a.chest_id, count(*) as n from asset a where ${where.join(' and ')} group by a.chest_id`,
      params,
    );
    for (const r of rows) counts.set(JSON.stringify([r.chest_id, group[0]!.filter]), Number(r.n));
  }
  return keys.map((k) => counts.get(JSON.stringify([k.chestId, k.filter])) ?? 0);
}

/** Visible assets by id (hero images); missing or hidden ids answer null. */
export async function loadVisibleAssetsById(em: EntityManager, ids: readonly string[]): Promise<(Asset | null)[]> {
  const rows = await em.execute<Record<string, unknown>[]>(`select a.* from asset a where a.id = any(?::uuid[]) and ${VISIBLE_ASSET_SQL}`, [pgArray(ids)]);
  const byId = new Map(rows.map((r) => [r.id as string, em.map(Asset, r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/**
 * The oldest memory of the chest holding these bytes that the chest's members can see (its own
 * memories and approved contributions', not deleted): what a member's upload may be called a
 * duplicate of. A guest's pending or rejected copy never counts, so it cannot stand in for a
 * member's memory.
 */
export async function findVisibleAssetWithBytes(em: EntityManager, chestId: string, sha256: string): Promise<string | null> {
  const rows = await em.execute<{ id: string }[]>(
    `select a.id from asset a where a.chest_id = ? and a.sha256 = ? and ${VISIBLE_ASSET_SQL} order by a.created_at, a.id limit 1`,
    [chestId, sha256],
  );
  return rows[0]?.id ?? null;
}

function filterConditions(filter: AssetFilter): Condition[] {
  const conditions: Condition[] = [];
  if (filter.fileTypes?.length) conditions.push({ sql: 'a.file_type = any(?::text[])', params: [pgArray(filter.fileTypes)] });
  if (filter.statuses?.length) conditions.push({ sql: 'a.status = any(?::text[])', params: [pgArray(filter.statuses)] });
  return conditions;
}

/**
 * Rows strictly after the cursor in (date_taken desc nulls last, created_at desc, id desc), as
 * ranges of asset_chest_timeline_idx that a row meets one of: after an undated cursor, the undated
 * rows after it; after a dated one, the dated rows after it (a row comparison, which the index
 * reads as one range; it is null for undated rows) and every undated row.
 */
export function keysetRanges(c: CursorKeys): Condition[] {
  if (c.d == null) return [{ sql: '(a.date_taken is null and (a.created_at, a.id) < (?::timestamptz, ?::uuid))', params: [c.c, c.i] }];
  return [
    { sql: '(a.date_taken, a.created_at, a.id) < (?::timestamptz, ?::timestamptz, ?::uuid)', params: [c.d, c.c, c.i] },
    { sql: 'a.date_taken is null', params: [] },
  ];
}

/** keysetRanges as one condition (for lists no index reads in this order). */
export function keysetSql(c: CursorKeys, params: unknown[]): string {
  const ranges = keysetRanges(c);
  for (const r of ranges) params.push(...r.params);
  return `(${ranges.map((r) => r.sql).join(' or ')})`;
}
