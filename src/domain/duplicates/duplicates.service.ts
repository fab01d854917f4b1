import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Asset, type Chest } from '../../db/entities/index.js';
import { ChestEventKind } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import type { EventBus } from '../../events/events.port.js';
import { authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { loadVisibleAssetsById, VISIBLE_ASSET_SQL } from '../asset/asset.queries.js';
import { getAsset } from '../asset/asset.service.js';
import { pgArray } from '../batch.js';
import { AppError, badInput, conflict, ErrorCode } from '../errors.js';
import { appendChestEvent, type ChestEventMessage, publishChestEvents } from '../events/chest-events.service.js';
import { machineCaptionRecord, recaption } from '../people/captions.js';
import { isUuid, parseInput } from '../validation.js';
import { type DismissDuplicatesInput, dismissDuplicatesInput, type ResolveDuplicatesInput, resolveDuplicatesInput } from './duplicates.input.js';
import { type MergeSide, mergeCopies } from './merge.js';

/**
 * Owners keep one memory of a group of copies and merge the others into it (mergeCopies: every
 * person's caption, the union of tags, place, date and location where the kept one has none, and
 * who contributed each copy); the copies go to the chest's bin, from which restoreMemory brings
 * them back. Any visible memories of one chest and one kind may be merged, not only those
 * Chest.duplicateGroups suggests: the owner knows two scans of one letter when the hash does not.
 * Owners only: merging bins other people's memories. One transaction; the memories' rows are
 * locked in id order first, so two owners merging at once wait for each other, and the second sees
 * the first's caption (or, if one of its copies is already merged, is told CONFLICT). Each binned
 * copy is announced as MEMORY_REMOVED, recorded in the transaction, as deleteMemory does, so live
 * clients drop it at once.
 */
export async function resolveDuplicates(em: EntityManager, actor: Actor, input: ResolveDuplicatesInput, events: EventBus): Promise<Asset> {
  const keptVisible = await getAsset(em, actor, input.keepAssetId);
  const chest = await authorizeChest(em, actor, keptVisible.chest.id, 'manage');
  const data = parseInput(resolveDuplicatesInput, input);
  await assertVisibleIn(em, chest, data.duplicateAssetIds, 'duplicateAssetIds');
  const ids = [data.keepAssetId, ...data.duplicateAssetIds];
  const { result, messages } = await withinTransaction(em, async () => {
    const locked = await em.execute<{ id: string }[]>(
      `select a.id::text from asset a where a.id = any(?::uuid[]) and a.chest_id = ? and ${VISIBLE_ASSET_SQL} order by a.id for update of a`,
      [pgArray(ids), chest.id],
    );
    if (locked.length !== ids.length) throw conflict('Some of these memories were merged or moved to the bin meanwhile; look at the duplicates again');
    const rows = await em.find(Asset, { id: { $in: ids } }, { refresh: true });
    const byId = new Map(rows.map((a) => [a.id, a]));
    const kept = byId.get(data.keepAssetId)!;
    // The caller's order decides nothing: copies are merged oldest first, so the result is the same whoever lists them.
    const copies = data.duplicateAssetIds.map((id) => byId.get(id)!).sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || (a.id < b.id ? -1 : 1));
    if (copies.some((c) => c.fileType !== kept.fileType)) throw badInput('duplicateAssetIds', 'duplicateAssetIds: must be memories of the same kind as the one kept');

    const now = new Date();
    const merged = mergeCopies({ kept: sideOf(kept), copies: copies.map(sideOf), at: now });
    const moved = merged.place !== kept.place || merged.dateTaken?.getTime() !== kept.dateTaken?.getTime();
    if (merged.caption !== undefined) kept.caption = merged.caption;
    kept.tags = merged.tags;
    kept.place = merged.place;
    kept.dateTaken = merged.dateTaken;
    kept.location = merged.location;
    kept.mergedFrom = merged.mergedFrom;
    const by = actor.accountId ? em.getReference(Account, actor.accountId) : null;
    for (const copy of copies) {
      copy.deletedAt = now;
      copy.deletedBy = by;
    }
    await em.flush();
    const messages: ChestEventMessage[] = [];
    for (const copy of copies) messages.push(await appendChestEvent(em, { chestId: chest.id, kind: ChestEventKind.MEMORY_REMOVED, assetId: copy.id }));
    // A machine caption says where and when: it follows a place or date the copies brought (a person's stands).
    if (moved && (await recaption(em, { assetIds: [kept.id] })).length) return { result: await em.findOneOrFail(Asset, { id: kept.id }, { refresh: true }), messages };
    return { result: kept, messages };
  });
  publishChestEvents(events, messages);
  return result;
}

/**
 * Owners say that memories Chest.duplicateGroups put together are not copies (two photos of one
 * moment, a page and its back): no pair of them is joined again. Stored per pair, so a later copy
 * of one of them can still be suggested. Returns the chest, whose duplicateGroups no longer has them.
 */
export async function dismissDuplicates(em: EntityManager, actor: Actor, input: DismissDuplicatesInput): Promise<Chest> {
  const first = input.assetIds?.[0];
  // No memory named: nothing to check access on, and the refusal tells nothing about any chest.
  if (typeof first !== 'string') throw badInput('assetIds', 'assetIds: must list at least 2 memories');
  const anchor = await getAsset(em, actor, first);
  const chest = await authorizeChest(em, actor, anchor.chest.id, 'manage');
  const data = parseInput(dismissDuplicatesInput, input);
  await assertVisibleIn(em, chest, data.assetIds, 'assetIds');
  const sorted = [...data.assetIds].sort();
  const firsts: string[] = [];
  const seconds: string[] = [];
  for (let i = 0; i < sorted.length; i++) {
    for (let j = i + 1; j < sorted.length; j++) {
      firsts.push(sorted[i]!);
      seconds.push(sorted[j]!);
    }
  }
  await em.execute(
    `insert into duplicate_dismissal (id, created_at, updated_at, chest_id, first_asset_id, second_asset_id, dismissed_by_id)
     select gen_random_uuid(), now(), now(), ?::uuid, p.first, p.second, ?::uuid from unnest(?::uuid[], ?::uuid[]) as p(first, second)
     on conflict (first_asset_id, second_asset_id) do nothing`,
    [chest.id, actor.accountId, pgArray(firsts), pgArray(seconds)],
  );
  return chest;
}

/** Every id a visible memory of this chest, else NOT_FOUND naming the field (another chest's memory is as unknown as a missing one). */
async function assertVisibleIn(em: EntityManager, chest: Chest, ids: readonly string[], field: string): Promise<void> {
  const found = ids.every(isUuid) ? await loadVisibleAssetsById(em, ids) : [null];
  if (found.some((a) => a === null || a.chest.id !== chest.id)) throw new AppError(ErrorCode.NOT_FOUND, 'Asset not found', field);
}

function sideOf(a: Asset): MergeSide {
  const personCaption = a.caption !== null && machineCaptionRecord(a.analyses)?.caption !== a.caption ? a.caption : null;
  return {
    id: a.id,
    personCaption,
    tags: a.tags,
    place: a.place,
    dateTaken: a.dateTaken,
    location: a.location,
    contributionId: a.contribution?.id ?? null,
    addedById: a.addedBy?.id ?? null,
    mergedFrom: a.mergedFrom,
  };
}
