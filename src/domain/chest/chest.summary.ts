import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { VISIBLE_ASSET_SQL } from '../asset/asset.queries.js';
import { entitiesByChest, lateralPages, pgArray, type Query, runQuery } from '../batch.js';
import { readColumns } from '../read-model.js';

export const RECENT_ASSETS = 10;

/** What a chest holds at a glance. */
export interface ChestStats {
  /** Whose figures these are (the recent list is loaded for it only when asked: loadRecentAssets). */
  chestId: string;
  totalAssets: number;
  images: number;
  videos: number;
  audio: number;
  documents: number;
  /** Processing finished. */
  processed: number;
  /** Waiting for or in processing. */
  pending: number;
  failed: number;
  /** Bytes of originals stored. */
  totalBytes: number;
}

/** Statistics for many chests in one aggregate statement. */
export async function loadChestStats(em: EntityManager, chestIds: readonly string[]): Promise<ChestStats[]> {
  return runQuery(em, chestStatsQuery(chestIds));
}

/** The statement of loadChestStats: counts arrive as text from the driver and as numbers from json_agg, read alike. */
export function chestStatsQuery(chestIds: readonly string[]): Query<ChestStats[]> {
  const sql = `select a.chest_id,
       count(*) as total,
       count(*) filter (where a.file_type = 'IMAGE') as images,
       count(*) filter (where a.file_type = 'VIDEO') as videos,
       count(*) filter (where a.file_type = 'AUDIO') as audio,
       count(*) filter (where a.file_type = 'DOCUMENT') as documents,
       count(*) filter (where a.status = 'COMPLETE') as processed,
       count(*) filter (where a.status in ('PENDING', 'PROCESSING')) as pending,
       count(*) filter (where a.status = 'FAILED') as failed,
       coalesce(sum(a.size), 0) as bytes
     from asset a where a.chest_id = any(?::uuid[]) and ${VISIBLE_ASSET_SQL}
     group by a.chest_id`;
  const read = (aggregates: Record<string, unknown>[]): ChestStats[] => {
    const byChest = new Map(aggregates.map((r) => [r.chest_id as string, r]));
    return chestIds.map((id) => {
      const r = byChest.get(id);
      const n = (k: string) => Number(r?.[k] ?? 0);
      return {
        chestId: id,
        totalAssets: n('total'),
        images: n('images'),
        videos: n('videos'),
        audio: n('audio'),
        documents: n('documents'),
        processed: n('processed'),
        pending: n('pending'),
        failed: n('failed'),
        totalBytes: n('bytes'),
      };
    });
  };
  return { sql, params: [pgArray(chestIds)], read };
}

/**
 * The newest visible memories of many chests, newest first, in one statement (LATERAL … LIMIT
 * per chest). Its own loader: a summary that does not ask for them does not read them.
 */
export async function loadRecentAssets(em: EntityManager, chestIds: readonly string[]): Promise<Asset[][]> {
  const recent = lateralPages({
    parents: chestIds,
    from: 'asset a',
    alias: 'a',
    ofParent: 'a.chest_id = k__.parent',
    where: [VISIBLE_ASSET_SQL],
    orderBy: 'a.created_at desc, a.id desc',
    limit: RECENT_ASSETS,
    select: readColumns(em, Asset, 'a'),
  });
  const rows = await em.execute<Record<string, unknown>[]>(recent.sql, recent.params);
  const byChest = entitiesByChest(em, Asset, rows);
  return chestIds.map((id) => byChest.get(id) ?? []);
}
