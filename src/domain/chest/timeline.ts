import type { EntityManager } from '@mikro-orm/postgresql';
import { VISIBLE_ASSET_SQL } from '../asset/asset.queries.js';
import { groupBy, pgArray } from '../batch.js';

export type TimelineGranularity = 'YEAR' | 'DECADE';

/** Memories of one kind and another in a span of years (or with no date). */
export interface TimelineCounts {
  photos: number;
  videos: number;
  recordings: number;
  documents: number;
  total: number;
}

export interface TimelineBucket extends TimelineCounts {
  /** The first year of the span (a decade starts at a multiple of ten). */
  startYear: number;
  /** Its last year. */
  endYear: number;
  /** A processed photo of the span, the oldest, preferring one that shows nobody hidden; resolved as any memory. */
  coverId: string | null;
}

export interface Timeline {
  granularity: TimelineGranularity;
  /** Spans that hold memories, oldest first. */
  buckets: TimelineBucket[];
  /** Memories with no date taken. */
  undated: TimelineCounts;
}

export interface TimelineKey {
  chestId: string;
  granularity: TimelineGranularity;
}

const SPAN: Record<TimelineGranularity, number> = { YEAR: 1, DECADE: 10 };

/**
 * Timelines of many chests: one statement per granularity, whatever the number of chests. The
 * memories counted are those Chest.assets shows (VISIBLE_ASSET_SQL), by the UTC year they were
 * taken; the cover is chosen among them.
 */
export async function loadTimelines(em: EntityManager, keys: readonly TimelineKey[]): Promise<Timeline[]> {
  const results = new Map<string, Timeline>();
  for (const group of groupBy(keys, (k) => k.granularity)) {
    const granularity = group[0]!.granularity;
    const span = SPAN[granularity];
    const rows = await em.execute<{ chest_id: string; start_year: number | null; photos: number; videos: number; recordings: number; documents: number; total: number; cover_id: string | null }[]>(
      `select b.chest_id, b.start_year, count(*) filter (where b.file_type = 'IMAGE')::int as photos,
         count(*) filter (where b.file_type = 'VIDEO')::int as videos, count(*) filter (where b.file_type = 'AUDIO')::int as recordings,
         count(*) filter (where b.file_type = 'DOCUMENT')::int as documents, count(*)::int as total,
         (array_agg(b.id order by b.shows_hidden, b.date_taken, b.id) filter (where b.file_type = 'IMAGE' and b.status = 'COMPLETE'))[1] as cover_id
       from (
         select a.chest_id, a.id, a.file_type, a.status, a.date_taken,
           (floor(extract(year from a.date_taken at time zone 'UTC') / ?) * ?)::int as start_year,
           exists (select 1 from face f join person p on p.id = f.person_id where f.asset_id = a.id and p.hidden) as shows_hidden
         from asset a where a.chest_id = any(?::uuid[]) and ${VISIBLE_ASSET_SQL}
       ) b
       group by b.chest_id, b.start_year
       order by b.chest_id, b.start_year nulls last`,
      [span, span, pgArray(group.map((k) => k.chestId))],
    );
    for (const key of group) {
      const mine = rows.filter((r) => r.chest_id === key.chestId);
      const counts = (r: (typeof rows)[number]): TimelineCounts => ({ photos: r.photos, videos: r.videos, recordings: r.recordings, documents: r.documents, total: r.total });
      const undated = mine.find((r) => r.start_year === null);
      results.set(JSON.stringify([key.chestId, granularity]), {
        granularity,
        buckets: mine
          .filter((r) => r.start_year !== null)
          .map((r) => ({ ...counts(r), startYear: r.start_year!, endYear: r.start_year! + span - 1, coverId: r.cover_id })),
        undated: undated ? counts(undated) : { photos: 0, videos: 0, recordings: 0, documents: 0, total: 0 },
      });
    }
  }
  return keys.map((k) => results.get(JSON.stringify([k.chestId, k.granularity]))!);
}
