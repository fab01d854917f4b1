import type { EntityManager } from '@mikro-orm/postgresql';
import { authorizeChest, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { pageSize, type Page } from '../pagination.js';
import { parseInput } from '../validation.js';
import { decodeSearchCursor, encodeSearchCursor, searchInput, type SearchInput } from './search.input.js';
import { searchChest, type SearchHitRow } from './search.queries.js';

/**
 * Searches a chest the caller may read: a page of hits, best first (ts_rank), ties in a fixed
 * order so pages never repeat or skip a hit. A chest they may not read is NOT_FOUND. What they
 * may find is decided inside the one statement (search.queries.ts), from what they may read.
 */
export async function search(
  em: EntityManager,
  actor: Actor,
  input: SearchInput & { chestId: string; first?: number | null; after?: string | null },
  maxPageSize: number,
): Promise<Page<SearchHitRow>> {
  const chest = await authorizeChest(em, actor, input.chestId, 'read');
  const data = parseInput(searchInput, { query: input.query, filter: input.filter });
  const limit = pageSize(input.first, maxPageSize);
  const after = decodeSearchCursor(input.after);
  const reach = { member: await may(actor, chest, 'member'), moderator: await may(actor, chest, 'moderate') };
  const rows = await searchChest(em, { chestId: chest.id, query: data.query, reach, filter: data.filter ?? {}, after, limit: limit + 1 });
  const items = rows.slice(0, limit).map((node) => ({ node, cursor: encodeSearchCursor({ r: node.rank, k: node.key }) }));
  return { items, hasNextPage: rows.length > limit };
}
