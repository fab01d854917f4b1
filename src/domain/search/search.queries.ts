import type { EntityManager } from '@mikro-orm/postgresql';
import { SEARCH_CONFIG } from '../../db/entities/search-entry.entity.js';
import { VISIBLE_ASSET_SQL } from '../asset/asset.queries.js';
import { type Condition, pgArray } from '../batch.js';
import type { SearchCursor, SearchFilter } from './search.input.js';

/** What a hit's text is. */
export type SearchField =
  | 'CAPTION'
  | 'PLACE'
  | 'TAGS'
  | 'DOCUMENT_TEXT'
  | 'TRANSCRIPT'
  | 'MEMORY'
  | 'PERSON'
  | 'MESSAGE'
  | 'STORY'
  | 'CHEST_NAME'
  | 'CHEST_DESCRIPTION';

/** How far the caller reaches into the chest; decided by the access service before searching. */
export interface SearchReach {
  /** The chest's own people: hidden people's names, every finished story (latest versions). */
  member: boolean;
  /** Owners and editors: contributions' messages (pending ones too). */
  moderator: boolean;
}

export interface SearchHitRow {
  /** Ties of rank are ordered by it: the entry's id, and for a person's name the memory's too. */
  key: string;
  field: SearchField;
  assetId: string | null;
  storyId: string | null;
  contributionId: string | null;
  atSeconds: number | null;
  rank: number;
  snippet: string;
}

/** Highlight markers in snippets: plain characters, never markup (the same characters in the text become ‹ ›). */
export const HIGHLIGHT_START = '«';
export const HIGHLIGHT_END = '»';

/**
 * One page of a chest's hits, best first, in one statement. Every access rule is part of the
 * statement, not applied to the page afterwards: memories are those Chest.assets shows the caller
 * (VISIBLE_ASSET_SQL: not binned, not from a contribution still awaiting approval); people's names
 * find the memories showing them, hidden people only for members; stories are the published one
 * for non-members; messages are for moderators. Locations and file names are never indexed.
 * A memory filter (types, dates, tags, people) leaves only memories; `contributor` leaves that
 * contribution's memories and message.
 */
export async function searchChest(
  em: EntityManager,
  q: { chestId: string; query: string; reach: SearchReach; filter: SearchFilter; after?: SearchCursor; limit: number },
): Promise<SearchHitRow[]> {
  const memories = assetFilter(q.filter, q.reach);
  const ofChest = 'e.chest_id = ?::uuid and e.tsv @@ q.q';
  const branches: Condition[] = [
    // A memory's own texts: caption, place, tags, document text, transcript segments.
    {
      sql: `select e.id::text as key, e.field, a.id as asset_id, null::uuid as story_id, null::uuid as contribution_id, e.at_seconds, e.text, ts_rank(e.tsv, q.q) as rank
        from q, search_entry e join asset a on a.id = e.asset_id
        where ${ofChest} and e.field <> 'MEMORY' and ${VISIBLE_ASSET_SQL}${memories.sql}`,
      params: [q.chestId, ...memories.params],
    },
    // All of a memory's texts together: the words are in different fields of it, none holds them all.
    {
      sql: `select e.id::text, e.field, a.id, null, null, null, e.text, ts_rank(e.tsv, q.q)
        from q, search_entry e join asset a on a.id = e.asset_id
        where ${ofChest} and e.field = 'MEMORY' and ${VISIBLE_ASSET_SQL}${memories.sql}
          and not exists (select 1 from search_entry o where o.asset_id = e.asset_id and o.field <> 'MEMORY' and o.tsv @@ q.q)`,
      params: [q.chestId, ...memories.params],
    },
    // People's names: every memory showing them. Hidden people are found only by members.
    {
      sql: `select e.id::text || ':' || a.id::text, 'PERSON', a.id, null, null, null, e.text, ts_rank(e.tsv, q.q)
        from q, search_entry e join person p on p.id = e.person_id
        join asset a on a.id in (select f.asset_id from face f where f.person_id = p.id)
        where ${ofChest}${q.reach.member ? '' : ' and not p.hidden'} and ${VISIBLE_ASSET_SQL}${memories.sql}`,
      params: [q.chestId, ...memories.params],
    },
  ];
  if (!memoryOnly(q.filter) && !q.filter.contributor) {
    // Stories: the published one for non-members; for members also every story's latest finished version.
    const which = q.reach.member
      ? `(s.published or not exists (select 1 from story n where coalesce(n.lineage_id, n.id) = coalesce(s.lineage_id, s.id) and n.status = 'READY' and (n.version, n.created_at, n.id) > (s.version, s.created_at, s.id)))`
      : 's.published';
    branches.push({
      sql: `select e.id::text, e.field, null, s.id, null, null, e.text, ts_rank(e.tsv, q.q)
        from q, search_entry e join story s on s.id = e.story_id
        where ${ofChest} and s.status = 'READY' and ${which}`,
      params: [q.chestId],
    });
    branches.push({
      sql: `select e.id::text, e.field, null, null, null, null, e.text, ts_rank(e.tsv, q.q)
        from q, search_entry e where ${ofChest} and e.field in ('CHEST_NAME', 'CHEST_DESCRIPTION')`,
      params: [q.chestId],
    });
  }
  if (q.reach.moderator && !memoryOnly(q.filter)) {
    // Guests' messages, pending ones too: what the contributions list shows moderators.
    branches.push({
      sql: `select e.id::text, e.field, null, null, c.id, null, e.text, ts_rank(e.tsv, q.q)
        from q, search_entry e join contribution c on c.id = e.contribution_id
        where ${ofChest}${q.filter.contributor ? ' and c.id = ?::uuid' : ''}`,
      params: q.filter.contributor ? [q.chestId, q.filter.contributor] : [q.chestId],
    });
  }
  const after = q.after ? 'where h.rank < ?::real or (h.rank = ?::real and h.key > ?)' : '';
  const params = [q.query, ...branches.flatMap((b) => b.params), ...(q.after ? [q.after.r, q.after.r, q.after.k] : []), q.limit];
  const options = `StartSel=${HIGHLIGHT_START}, StopSel=${HIGHLIGHT_END}, MinWords=8, MaxWords=30, MaxFragments=2, FragmentDelimiter=" … "`;
  // Snippets only for the page's rows; the text's own markers and angle brackets become ‹ ›, so a snippet holds no markup.
  const rows = await em.execute<HitSqlRow[]>(
    `with q as (select websearch_to_tsquery('${SEARCH_CONFIG}', ?) as q)
     select h.key, h.field, h.asset_id, h.story_id, h.contribution_id, h.at_seconds, h.rank,
       ts_headline('${SEARCH_CONFIG}', translate(h.text, '${HIGHLIGHT_START}${HIGHLIGHT_END}<>', '‹›‹›'), q.q, '${options}') as snippet
     from (select * from (${branches.map((b) => b.sql).join('\n      union all\n      ')}) h ${after} order by h.rank desc, h.key limit ?) h, q
     order by h.rank desc, h.key`,
    params,
  );
  return rows.map((r) => ({
    key: r.key,
    field: r.field,
    assetId: r.asset_id,
    storyId: r.story_id,
    contributionId: r.contribution_id,
    atSeconds: r.at_seconds,
    rank: Number(r.rank),
    snippet: r.snippet,
  }));
}

interface HitSqlRow {
  key: string;
  field: SearchField;
  asset_id: string | null;
  story_id: string | null;
  contribution_id: string | null;
  at_seconds: number | null;
  rank: number;
  snippet: string;
}

/** Filters that only memories can meet. */
const memoryOnly = (f: SearchFilter): boolean => Boolean(f.types?.length || f.dateFrom || f.dateTo || f.tags?.length || f.people?.length);

/** The memory filters as conditions on `a` (each starting with " and "), with their parameters in order. */
function assetFilter(f: SearchFilter, reach: SearchReach): Condition {
  const sql: string[] = [];
  const params: unknown[] = [];
  if (f.types?.length) {
    sql.push('a.file_type = any(?::text[])');
    params.push(pgArray(f.types));
  }
  if (f.dateFrom) {
    // Days in UTC, whatever the session's time zone.
    sql.push(`a.date_taken >= (?::date)::timestamp at time zone 'UTC'`);
    params.push(f.dateFrom);
  }
  if (f.dateTo) {
    sql.push(`a.date_taken < (?::date + 1)::timestamp at time zone 'UTC'`);
    params.push(f.dateTo);
  }
  if (f.tags?.length) {
    sql.push(`not exists (select 1 from unnest(?::text[]) w(name) where not exists (select 1 from jsonb_array_elements(a.tags) g where lower(g->>'name') = lower(w.name)))`);
    params.push(pgArray(f.tags));
  }
  if (f.people?.length) {
    // Outside the family a hidden or unnamed person is nobody they can ask for.
    const shown = reach.member ? '' : ' and not p.hidden and p.name is not null';
    sql.push(`(select count(distinct f.person_id) from face f join person p on p.id = f.person_id where f.asset_id = a.id and f.person_id = any(?::uuid[])${shown}) = ?`);
    params.push(pgArray(f.people), new Set(f.people).size);
  }
  if (f.contributor) {
    sql.push('a.contribution_id = ?::uuid');
    params.push(f.contributor);
  }
  return { sql: sql.map((s) => ` and ${s}`).join(''), params };
}
