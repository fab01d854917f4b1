import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset, Chest } from '../../db/entities/index.js';
import type { Tag } from '../../db/entities/asset.types.js';
import { TagSource } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import { authorizeChest, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { AppError, ErrorCode, notFound } from '../errors.js';
import { recaption } from '../people/captions.js';
import { isUuid, parseInput } from '../validation.js';
import { type UpdateMemoryInput, updateMemoryInput } from './asset.input.js';
import { loadVisibleAssetsById } from './asset.queries.js';

/** The asset(id) query: what getAsset gives, and to the chest's owners also a memory in the bin (to look at before restoring it). */
export async function readAsset(em: EntityManager, actor: Actor, assetId: string): Promise<Asset> {
  return getAsset(em, actor, assetId).catch(async (err: unknown) => {
    if (!(err instanceof AppError) || err.code !== ErrorCode.NOT_FOUND) throw err;
    return binnedAsset(em, actor, assetId);
  });
}

/** One memory by id: visible ones only (never one in the bin), and only to those who may read its chest. */
export async function getAsset(em: EntityManager, actor: Actor, assetId: string): Promise<Asset> {
  const [asset] = isUuid(assetId) ? await loadVisibleAssetsById(em, [assetId]) : [null];
  if (!asset) throw notFound('Asset');
  await authorizeChest(em, actor, asset.chest.id, 'read').catch(() => {
    throw notFound('Asset');
  });
  return asset;
}

/** A binned memory, for the chest's owners; NOT_FOUND for everyone else, as if it were gone. */
async function binnedAsset(em: EntityManager, actor: Actor, assetId: string): Promise<Asset> {
  const binned = isUuid(assetId) ? await em.findOne(Asset, { id: assetId, deletedAt: { $ne: null } }) : null;
  const chest = binned ? await em.findOne(Chest, { id: binned.chest.id }) : null;
  if (!binned || !chest || !(await may(actor, chest, 'manage'))) throw notFound('Asset');
  return binned;
}

/**
 * Editors and owners say what a memory is: its caption, place, date and their own tags. Omitted
 * fields stay; null clears. Tags from EXIF, the AI and keywords stay, except where a person's tag
 * has the same name (their word replaces the machine's).
 */
export async function updateMemory(em: EntityManager, actor: Actor, assetId: string, input: UpdateMemoryInput): Promise<Asset> {
  const visible = await getAsset(em, actor, assetId);
  await authorizeChest(em, actor, visible.chest.id, 'edit');
  const data = parseInput(updateMemoryInput, input);
  return withinTransaction(em, async () => {
    // The AI step may be saving its tags and caption right now: the row lock makes one wait for the other.
    const asset = await em.findOne(Asset, { id: visible.id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!asset) throw notFound('Asset');
    if (data.caption !== undefined) asset.caption = data.caption || null;
    if (data.place !== undefined) asset.place = data.place || null;
    if (data.dateTaken !== undefined) asset.dateTaken = data.dateTaken;
    if (data.tags !== undefined) asset.tags = withPersonTags(asset.tags, data.tags ?? []);
    await em.flush();
    // A machine caption says where and when: it follows a corrected place or date (a person's caption stands).
    const moved = data.place !== undefined || data.dateTaken !== undefined;
    if (moved && (await recaption(em, { assetIds: [asset.id] })).length) return em.findOneOrFail(Asset, { id: asset.id }, { refresh: true });
    return asset;
  });
}

/** The person's tags first (one per name, ignoring case), then every other source's tag of another name. */
function withPersonTags(existing: readonly Tag[], names: readonly string[]): Tag[] {
  const own = new Map<string, Tag>();
  for (const name of names) {
    const key = name.toLowerCase();
    if (!own.has(key)) own.set(key, { name, source: TagSource.USER, confidence: 1 });
  }
  const others = existing.filter((t) => t.source !== TagSource.USER && !own.has(t.name.toLowerCase()));
  return [...own.values(), ...others];
}
