import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Asset, Face, Person } from '../../db/entities/index.js';
import { assetCursor, keysetSql, TIMELINE_ORDER, VISIBLE_ASSET_SQL } from '../asset/asset.queries.js';
import { type Condition, groupBy, lateralPages, pgArray } from '../batch.js';
import { badInput } from '../errors.js';
import { decodeCursor, lazyEdges, type Page } from '../pagination.js';
import { storableInstant } from '../validation.js';

/**
 * Batched reads of people and faces for the per-request loaders: one statement per batch (and per
 * distinct page arguments), however many chests, people or photos asked. Only faces on memories
 * the chest shows (VISIBLE_ASSET_SQL: live, and not waiting in a contribution) count anywhere.
 */

/** A face on a visible memory (alias f for the face, a for its asset). */
const ON_VISIBLE_ASSET = `exists (select 1 from asset a where a.id = f.asset_id and ${VISIBLE_ASSET_SQL})`;

/**
 * The people a reader may see (alias p): members every person with a face on a visible memory;
 * everyone else only those the family named and did not hide.
 */
export function visiblePersonSql(membersView: boolean): string {
  const hasFaces = `exists (select 1 from face f where f.person_id = p.id and ${ON_VISIBLE_ASSET})`;
  return membersView ? hasFaces : `p.name is not null and not p.hidden and ${hasFaces}`;
}

/** Whether someone outside the family may see this person. */
export const shownToEveryone = (p: Pick<Person, 'name' | 'hidden'>): boolean => p.name !== null && !p.hidden;

/** One page request of one chest's people. */
export interface PeoplePageKey {
  chestId: string;
  limit: number;
  after?: string | null;
  /** Members see unnamed and hidden people too. */
  membersView: boolean;
}

// People are listed named first (by name), then the unnamed, oldest first.
const personCursor = z.object({ u: z.boolean(), n: z.string().max(400), c: z.string().datetime({ offset: true }).refine((s) => storableInstant(Date.parse(s))), i: z.string().uuid() });
const PERSON_ORDER = `(p.name is null), lower(coalesce(p.name, '')), p.created_at, p.id`;

export const encodePersonCursor = (p: Person): string =>
  Buffer.from(JSON.stringify({ u: p.name === null, n: (p.name ?? '').toLowerCase(), c: p.createdAt.toISOString(), i: p.id })).toString('base64url');

function decodePersonCursor(cursor: string | null | undefined): z.infer<typeof personCursor> | undefined {
  if (cursor == null) return undefined;
  try {
    const parsed = personCursor.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: not base64 JSON
  }
  throw badInput('after', 'after: malformed cursor');
}

export async function loadPeoplePages(em: EntityManager, keys: readonly PeoplePageKey[]): Promise<Page<Person>[]> {
  const results = new Map<PeoplePageKey, Page<Person>>();
  for (const group of groupBy(keys, (k) => JSON.stringify([k.limit, k.after ?? null, k.membersView]))) {
    const { limit, after, membersView } = group[0]!;
    const cursor = decodePersonCursor(after);
    const conditions: Condition[] = cursor
      ? [{ sql: `(${PERSON_ORDER}) > (?::boolean, ?::text, ?::timestamptz, ?::uuid)`, params: [cursor.u, cursor.n, cursor.c, cursor.i] }]
      : [];
    const { sql, params } = lateralPages({
      parents: group.map((k) => k.chestId),
      from: 'person p',
      alias: 'p',
      ofParent: 'p.chest_id = k__.parent',
      where: [visiblePersonSql(membersView)],
      conditions,
      orderBy: PERSON_ORDER,
      limit: limit + 1,
    });
    const rows = await em.execute<Record<string, unknown>[]>(sql, params);
    const byChest = new Map<string, Person[]>();
    for (const row of rows) {
      const list = byChest.get(row.chest_id as string) ?? [];
      list.push(em.map(Person, row));
      byChest.set(row.chest_id as string, list);
    }
    for (const key of group) {
      const list = byChest.get(key.chestId) ?? [];
      results.set(key, { items: lazyEdges(list, limit, encodePersonCursor), hasNextPage: list.length > limit });
    }
  }
  return keys.map((k) => results.get(k)!);
}

/** Faces of each person on visible memories. */
export async function countFaces(em: EntityManager, personIds: readonly string[]): Promise<number[]> {
  const rows = await em.execute<{ person_id: string; n: string }[]>(
    `select f.person_id, count(*) as n from face f where f.person_id = any(?::uuid[]) and ${ON_VISIBLE_ASSET} group by f.person_id`,
    [pgArray(personIds)],
  );
  const counts = new Map(rows.map((r) => [r.person_id, Number(r.n)]));
  return personIds.map((id) => counts.get(id) ?? 0);
}

/** The face crop shown for a person: their cover face if it is on a visible memory, else their surest face that is. */
export interface CoverCrop {
  faceId: string;
  assetId: string;
  cropKey: string;
}

export async function loadCovers(em: EntityManager, personIds: readonly string[]): Promise<(CoverCrop | null)[]> {
  const rows = await em.execute<{ person_id: string; id: string; asset_id: string; crop_key: string }[]>(
    `select distinct on (f.person_id) f.person_id, f.id, f.asset_id, f.crop_key
     from face f join person p on p.id = f.person_id
     where f.person_id = any(?::uuid[]) and f.crop_key is not null and ${ON_VISIBLE_ASSET}
     order by f.person_id, (f.id = p.cover_face_id) desc, f.score desc, f.id`,
    [pgArray(personIds)],
  );
  const byPerson = new Map(rows.map((r) => [r.person_id, { faceId: r.id, assetId: r.asset_id, cropKey: r.crop_key }]));
  return personIds.map((id) => byPerson.get(id) ?? null);
}

/** One page request of the memories one person appears in. */
export interface PersonAssetPageKey {
  personId: string;
  limit: number;
  after?: string | null;
}

/** Visible memories showing each person, in the chest's order (date taken, newest first; then added). */
export async function loadPersonAssetPages(em: EntityManager, keys: readonly PersonAssetPageKey[]): Promise<Page<Asset>[]> {
  const results = new Map<PersonAssetPageKey, Page<Asset>>();
  for (const group of groupBy(keys, (k) => JSON.stringify([k.limit, k.after ?? null]))) {
    const { limit, after } = group[0]!;
    const cursor = decodeCursor(after);
    const keyset: unknown[] = [];
    const conditions: Condition[] = cursor ? [{ sql: keysetSql(cursor, keyset), params: keyset }] : [];
    const { sql, params } = lateralPages({
      parents: group.map((k) => k.personId),
      from: 'asset a',
      alias: 'a',
      ofParent: 'a.id in (select f.asset_id from face f where f.person_id = k__.parent)',
      where: [VISIBLE_ASSET_SQL],
      conditions,
      orderBy: TIMELINE_ORDER,
      limit: limit + 1,
      extra: 'k__.parent as person__',
    });
    const rows = await em.execute<Record<string, unknown>[]>(sql, params);
    const byPerson = new Map<string, Asset[]>();
    for (const { person__: person, ...row } of rows) {
      const list = byPerson.get(person as string) ?? [];
      list.push(em.map(Asset, row));
      byPerson.set(person as string, list);
    }
    for (const key of group) {
      const list = byPerson.get(key.personId) ?? [];
      results.set(key, { items: lazyEdges(list, limit, assetCursor), hasNextPage: list.length > limit });
    }
  }
  return keys.map((k) => results.get(k)!);
}

/** The faces found in each photo, left to right. */
export async function loadFacesByAsset(em: EntityManager, assetIds: readonly string[]): Promise<Face[][]> {
  const rows = await em.execute<Record<string, unknown>[]>(`select * from face where asset_id = any(?::uuid[]) order by asset_id, (box->>'x')::float, id`, [pgArray(assetIds)]);
  const byAsset = new Map<string, Face[]>();
  for (const row of rows) {
    const list = byAsset.get(row.asset_id as string) ?? [];
    list.push(em.map(Face, row));
    byAsset.set(row.asset_id as string, list);
  }
  return assetIds.map((id) => byAsset.get(id) ?? []);
}

export async function loadPeopleById(em: EntityManager, ids: readonly string[]): Promise<(Person | null)[]> {
  const rows = await em.execute<Record<string, unknown>[]>('select * from person where id = any(?::uuid[])', [pgArray(ids)]);
  const byId = new Map(rows.map((r) => [r.id as string, em.map(Person, r)]));
  return ids.map((id) => byId.get(id) ?? null);
}

/**
 * The names of the people in each memory whom the family named and did not hide, in order of
 * appearance (left to right): what stories may say of who is in a photo. Memories with none are
 * absent.
 */
export async function namedPeopleIn(em: EntityManager, assetIds: readonly string[]): Promise<Map<string, string[]>> {
  if (assetIds.length === 0) return new Map();
  const rows = await em.execute<{ asset_id: string; name: string }[]>(
    `select f.asset_id, p.name from face f join person p on p.id = f.person_id
     where f.asset_id = any(?::uuid[]) and p.name is not null and not p.hidden
     order by f.asset_id, (f.box->>'x')::float, f.id`,
    [pgArray(assetIds)],
  );
  const byAsset = new Map<string, string[]>();
  for (const r of rows) {
    const names = byAsset.get(r.asset_id) ?? [];
    if (!names.includes(r.name)) names.push(r.name);
    byAsset.set(r.asset_id, names);
  }
  return byAsset;
}
