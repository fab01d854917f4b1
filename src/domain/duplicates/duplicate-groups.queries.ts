import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Analysis } from '../../db/entities/asset.types.js';
import type { FileType } from '../../db/enums.js';
import { hammingDistance } from '../../media/perceptual-hash.js';
import { VISIBLE_ASSET_SQL } from '../asset/asset.queries.js';
import { pgArray } from '../batch.js';
import { decodeCursor, encodeCursor, lazyEdges, type Page } from '../pagination.js';
import { machineCaptionRecord } from '../people/captions.js';
import { type CopyCandidate, contentJudge, NEAR_COPY_BITS } from '../story/duplicates.js';

/** Why a group's memories are one: the same bytes, or the same picture (perceptual hashes within NEAR_COPY_BITS). */
export enum DuplicateReason {
  EXACT = 'EXACT',
  NEAR = 'NEAR',
}

/** One group of copies of one memory, as Chest.duplicateGroups answers it. */
export interface DuplicateGroupView {
  /** A fingerprint of its memories (their sorted ids): the same memories, the same id. */
  id: string;
  chestId: string;
  reason: DuplicateReason;
  /** 0 for EXACT; for NEAR the most bits by which two of its photos' perceptual hashes differ. */
  distance: number;
  /** Its memories, oldest added first. */
  assetIds: string[];
  /** The one suggested to keep (suggestKeep). */
  keepId: string;
  /** Sort and cursor keys: the oldest memory's. */
  createdAt: Date;
  firstId: string;
}

/** What grouping and the keep suggestion read of each memory in a candidate pair. */
interface MemberFacts extends CopyCandidate {
  chestId: string;
  pixels: number;
  personCaption: boolean;
  createdAt: Date;
}

/**
 * Every duplicate group of each chest, oldest first: visible memories (the family's and approved
 * contributions', not in the bin) with the same bytes (asset_chest_sha256_idx), or of one kind
 * with perceptual hashes at most NEAR_COPY_BITS apart and nothing in their words telling them
 * apart (contentJudge, the rule stories use). Pairs an owner dismissed are not joined. Groups are
 * connected: A near B and B near C is one group.
 * Four statements whatever the number of chests and memories; near pairs are found in SQL without
 * comparing every pair (nearPairsSql).
 */
export async function loadDuplicateGroups(em: EntityManager, chestIds: readonly string[]): Promise<DuplicateGroupView[][]> {
  const chests = pgArray(chestIds);
  const exact = await em.execute<{ chest_id: string; ids: string[] }[]>(
    `select a.chest_id, array_agg(a.id::text order by a.created_at, a.id) as ids from asset a
     where a.chest_id = any(?::uuid[]) and ${VISIBLE_ASSET_SQL}
     group by a.chest_id, a.sha256 having count(*) > 1`,
    [chests],
  );
  const near = await em.execute<{ a: string; b: string }[]>(nearPairsSql(), [chests, NEAR_COPY_BITS]);
  const ids = [...new Set([...exact.flatMap((g) => g.ids), ...near.flatMap((p) => [p.a, p.b])])];
  if (ids.length === 0) return chestIds.map(() => []);
  const facts = await loadFacts(em, ids);
  const dismissed = await em.execute<{ first_asset_id: string; second_asset_id: string }[]>(
    'select first_asset_id, second_asset_id from duplicate_dismissal where chest_id = any(?::uuid[])',
    [chests],
  );
  const notSame = new Set(dismissed.map((d) => pairKey(d.first_asset_id, d.second_asset_id)));

  const groups = new UnionFind();
  const join = (a: string, b: string) => {
    if (!notSame.has(pairKey(a, b))) groups.union(a, b);
  };
  for (const g of exact) for (let i = 0; i < g.ids.length; i++) for (let j = i + 1; j < g.ids.length; j++) join(g.ids[i]!, g.ids[j]!);
  const sameContent = contentJudge();
  for (const p of near) {
    const a = facts.get(p.a);
    const b = facts.get(p.b);
    if (a && b && sameContent(a, b)) join(a.id, b.id);
  }

  const byChest = new Map<string, DuplicateGroupView[]>(chestIds.map((id) => [id, []]));
  for (const memberIds of groups.sets()) {
    const members = memberIds.map((id) => facts.get(id)).filter((m): m is MemberFacts => m !== undefined);
    if (members.length < 2) continue;
    members.sort(byAdded);
    byChest.get(members[0]!.chestId)?.push(groupView(members));
  }
  for (const list of byChest.values()) list.sort((x, y) => x.createdAt.getTime() - y.createdAt.getTime() || (x.firstId < y.firstId ? -1 : 1));
  return chestIds.map((id) => byChest.get(id) ?? []);
}

/**
 * Pairs of visible memories of one chest and kind whose perceptual hashes differ in at most `?`
 * bits. By the pigeonhole principle two hashes that differ in at most k bits agree exactly on
 * at least one of k+1 disjoint bands of their 64 bits; so each hash is cut into k+1 bands and only
 * memories sharing a band are compared (a hash join on the band), not every pair: near linear in
 * the chest's photos, where comparing all pairs was quadratic.
 */
export function nearPairsSql(): string {
  const n = NEAR_COPY_BITS + 1;
  const bands = Array.from({ length: n }, (_, k) => {
    const start = Math.floor((k * 64) / n);
    return `(${k}, ${start + 1}, ${Math.floor(((k + 1) * 64) / n) - start})`;
  });
  return `with h as (
      select a.id, a.chest_id, a.file_type, ('x' || a.perceptual_hash)::bit(64) as bits from asset a
      where a.chest_id = any(?::uuid[]) and a.perceptual_hash is not null and ${VISIBLE_ASSET_SQL}
    ), banded as (
      select h.*, b.n, substring(h.bits from b.start for b.len)::text as band from h
      cross join (values ${bands.join(', ')}) as b(n, start, len)
    )
    select distinct x.id::text as a, y.id::text as b from banded x
    join banded y on y.chest_id = x.chest_id and y.n = x.n and y.band = x.band and y.file_type = x.file_type and x.id < y.id
    where bit_count(x.bits # y.bits) <= ?`;
}

async function loadFacts(em: EntityManager, ids: readonly string[]): Promise<Map<string, MemberFacts>> {
  const rows = await em.execute<FactRow[]>(
    `select a.id::text, a.chest_id::text, a.file_type, a.sha256, a.perceptual_hash, a.extracted_text, a.transcription->>'text' as transcript,
       a.caption, a.analyses, a.contribution_id::text, a.width, a.height, a.created_at
     from asset a where a.id = any(?::uuid[]) and ${VISIBLE_ASSET_SQL}`,
    [pgArray(ids)],
  );
  return new Map(
    rows.map((r) => {
      const personCaption = r.caption !== null && r.caption.trim() !== '' && machineCaptionRecord(r.analyses ?? [])?.caption !== r.caption;
      const facts: MemberFacts = {
        id: r.id,
        chestId: r.chest_id,
        kind: r.file_type,
        sha256: r.sha256,
        perceptualHash: r.perceptual_hash,
        text: r.extracted_text,
        transcript: r.transcript,
        caption: personCaption ? r.caption : null,
        captionBy: r.contribution_id,
        pixels: (r.width ?? 0) * (r.height ?? 0),
        personCaption,
        createdAt: new Date(r.created_at),
      };
      return [r.id, facts];
    }),
  );
}

interface FactRow {
  id: string;
  chest_id: string;
  file_type: FileType;
  sha256: string;
  perceptual_hash: string | null;
  extracted_text: string | null;
  transcript: string | null;
  caption: string | null;
  analyses: Analysis[] | null;
  contribution_id: string | null;
  width: number | null;
  height: number | null;
  created_at: string | Date;
}

function groupView(members: MemberFacts[]): DuplicateGroupView {
  const exact = members.every((m) => m.sha256 === members[0]!.sha256);
  let distance = 0;
  if (!exact) {
    for (let i = 0; i < members.length; i++) {
      for (let j = i + 1; j < members.length; j++) {
        const a = members[i]!.perceptualHash;
        const b = members[j]!.perceptualHash;
        if (a && b) distance = Math.max(distance, hammingDistance(a, b));
      }
    }
  }
  const assetIds = members.map((m) => m.id);
  return {
    id: createHash('sha256').update([...assetIds].sort().join(',')).digest('hex').slice(0, 32),
    chestId: members[0]!.chestId,
    reason: exact ? DuplicateReason.EXACT : DuplicateReason.NEAR,
    distance,
    assetIds,
    keepId: suggestKeep(members).id,
    createdAt: members[0]!.createdAt,
    firstId: members[0]!.id,
  };
}

/**
 * Which copy to keep: the most pixels (the least resized: width × height, photos and videos),
 * then one with a person's caption, then the one added first. resolveDuplicates keeps every
 * person's caption, tag, place and date whichever is kept; this picks the best file.
 */
export function suggestKeep<T extends { id: string; pixels: number; personCaption: boolean; createdAt: Date }>(members: readonly T[]): T {
  return [...members].sort((a, b) => b.pixels - a.pixels || Number(b.personCaption) - Number(a.personCaption) || byAdded(a, b))[0]!;
}

const byAdded = (a: { createdAt: Date; id: string }, b: { createdAt: Date; id: string }) =>
  a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** A pair's key with the smaller id first, as duplicate_dismissal stores it. */
export const pairKey = (a: string, b: string): string => (a < b ? `${a}|${b}` : `${b}|${a}`);

/** Connected sets of ids. */
class UnionFind {
  private parent = new Map<string, string>();

  private find(x: string): string {
    let root = x;
    while (this.parent.has(root) && this.parent.get(root) !== root) root = this.parent.get(root)!;
    // Path compression: the next find of these is one step.
    for (let y = x; y !== root; ) {
      const next = this.parent.get(y)!;
      this.parent.set(y, root);
      y = next;
    }
    return root;
  }

  union(a: string, b: string): void {
    if (!this.parent.has(a)) this.parent.set(a, a);
    if (!this.parent.has(b)) this.parent.set(b, b);
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(rb, ra);
  }

  sets(): string[][] {
    const sets = new Map<string, string[]>();
    for (const x of this.parent.keys()) {
      const r = this.find(x);
      const s = sets.get(r);
      if (s) s.push(x);
      else sets.set(r, [x]);
    }
    return [...sets.values()];
  }
}

/** One page of a chest's groups, oldest first, after the cursor (the oldest memory's added time and id). */
export function pageOfGroups(groups: readonly DuplicateGroupView[], limit: number, after: string | null | undefined): Page<DuplicateGroupView> {
  const cursor = decodeCursor(after);
  const from = cursor ? groups.filter((g) => g.createdAt.toISOString() > cursor.c || (g.createdAt.toISOString() === cursor.c && g.firstId > cursor.i)) : groups;
  return { items: lazyEdges(from, limit, groupCursor), hasNextPage: from.length > limit };
}

const groupCursor = (g: DuplicateGroupView): string => encodeCursor({ c: g.createdAt.toISOString(), i: g.firstId });
