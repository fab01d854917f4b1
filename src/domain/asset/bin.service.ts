import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Asset, Chest } from '../../db/entities/index.js';
import { ChestEventKind, ChestRole, ProcessingStatus } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { assertMay, authorizeChest, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { AppError, ErrorCode, notFound } from '../errors.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';
import { isUuid } from '../validation.js';
import { loadVisibleAssetsById } from './asset.queries.js';
import { purgeAssets } from './purge.js';

/**
 * The chest's bin: deleteMemory moves a memory there (it leaves lists, counts, stories, search and
 * downloads at once), restoreMemory brings it back, and only an owner's purgeMemory or emptyBin
 * erases it, files and all. Owners may bin any memory; editors the ones they added themselves.
 */

export interface MemoryRef {
  /** The memory (asset) id. */
  assetId: string;
}

export interface ChestRef {
  /** The chest id. */
  chestId: string;
}

/** How many binned memories one statement of emptyBin erases. */
const PURGE_BATCH = 100;

export const alreadyInBin = () => new AppError(ErrorCode.ALREADY_IN_BIN, 'This memory is in the bin already');
export const notInBin = () => new AppError(ErrorCode.NOT_IN_BIN, 'This memory is not in the bin');

interface BinTarget {
  asset: Asset;
  chest: Chest;
  owner: boolean;
}

/**
 * The memory a bin operation names, once the caller may change it. Who cannot see it learns
 * nothing (NOT_FOUND): a private chest they cannot read, a memory still waiting for review (that
 * is rejectContributionMemory's), and a binned memory unless they could bring it back. Who can see
 * it but not change it: FORBIDDEN (UNAUTHENTICATED when signed out), as access.service decides.
 */
async function binTarget(em: EntityManager, actor: Actor, assetId: string): Promise<BinTarget> {
  const asset = isUuid(assetId) ? await em.findOne(Asset, { id: assetId }) : null;
  if (!asset) throw notFound('Asset');
  const chest = await em.findOneOrFail(Chest, { id: asset.chest.id });
  if (!(await may(actor, chest, 'read'))) throw notFound('Asset');
  const role = actor.accountId ? await actor.roles.load(chest.id) : null;
  const owner = role === ChestRole.OWNER;
  const ownMemory = role === ChestRole.EDITOR && asset.addedBy !== null && asset.addedBy.id === actor.accountId;
  if (asset.deletedAt === null) {
    const [visible] = await loadVisibleAssetsById(em, [asset.id]);
    if (!visible) throw notFound('Asset');
  } else if (!owner && !ownMemory) {
    throw notFound('Asset');
  }
  if (owner || ownMemory) return { asset, chest, owner };
  await assertMay(actor, chest, 'edit');
  throw new AppError(ErrorCode.FORBIDDEN, 'Editors may move to the bin only the memories they added');
}

/**
 * Moves a memory to the bin; nothing is erased. ALREADY_IN_BIN when it is there already. Live
 * clients hear MEMORY_REMOVED (the id only), recorded in the same transaction.
 */
export async function deleteMemory(em: EntityManager, actor: Actor, input: MemoryRef, events: EventBus): Promise<Asset> {
  const { asset, chest } = await binTarget(em, actor, input.assetId);
  if (asset.deletedAt) throw alreadyInBin();
  const { binned, message } = await withinTransaction(em, async () => {
    // Two clicks at once: the second finds it binned.
    const locked = await em.findOne(Asset, { id: asset.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!locked) throw notFound('Asset');
    if (locked.deletedAt) throw alreadyInBin();
    locked.deletedAt = new Date();
    locked.deletedBy = actor.accountId ? em.getReference(Account, actor.accountId) : null;
    await em.flush();
    return { binned: locked, message: await appendChestEvent(em, { chestId: chest.id, kind: ChestEventKind.MEMORY_REMOVED, assetId: locked.id }) };
  });
  publishChestEvents(events, [message]);
  return binned;
}

/** Brings a binned memory back where it was; live clients hear MEMORY_ADDED again; skipped jobs run (requeueSkipped). */
export async function restoreMemory(em: EntityManager, actor: Actor, input: MemoryRef, deps: { events: EventBus; queue: JobQueue }): Promise<Asset> {
  const { asset, chest } = await binTarget(em, actor, input.assetId);
  if (!asset.deletedAt) throw notInBin();
  const { restored, message } = await withinTransaction(em, async () => {
    const locked = await em.findOne(Asset, { id: asset.id }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!locked) throw notFound('Asset');
    if (!locked.deletedAt) throw notInBin();
    locked.deletedAt = null;
    locked.deletedBy = null;
    await em.flush();
    await requeueSkipped(em, deps.queue, locked);
    return { restored: locked, message: await appendChestEvent(em, { chestId: chest.id, kind: ChestEventKind.MEMORY_ADDED, assetId: locked.id }) };
  });
  publishChestEvents(deps.events, [message]);
  return restored;
}

/**
 * Jobs skip a binned memory (processing, and the AI step after it): one binned before they ran is
 * queued again when it comes back: processing if it never finished, else the AI step if none ran
 * and none waits. In the restoring transaction, as every enqueue.
 */
async function requeueSkipped(tx: EntityManager, queue: JobQueue, asset: Asset): Promise<void> {
  if (asset.status === ProcessingStatus.PENDING || asset.status === ProcessingStatus.PROCESSING) {
    await queue.enqueue(tx, 'asset.process', { assetId: asset.id });
  } else if (asset.status === ProcessingStatus.COMPLETE && asset.analyses.length === 0 && (await queue.unfinishedFor('asset.analyse', [asset.id], tx)).size === 0) {
    await queue.enqueue(tx, 'asset.analyse', { assetId: asset.id });
  }
}

/** Owners: erases one binned memory, its files, faces and search entries. NOT_IN_BIN for a memory not binned. */
export async function purgeMemory(em: EntityManager, storage: StorageBackend, actor: Actor, input: MemoryRef): Promise<boolean> {
  const { asset, chest, owner } = await binTarget(em, actor, input.assetId);
  if (!owner) await assertMay(actor, chest, 'manage');
  if (!asset.deletedAt) throw notInBin();
  const report = await purgeAssets(em, storage, { assetIds: [asset.id], where: { chestId: chest.id, binned: true } });
  // Purged by someone else a moment ago: it is gone all the same.
  return report.assetIds.length === 1 || (await em.count(Asset, { id: asset.id })) === 0;
}

/** Owners: erases every memory in the chest's bin; answers how many. */
export async function emptyBin(em: EntityManager, storage: StorageBackend, actor: Actor, input: ChestRef): Promise<number> {
  const chest = await authorizeChest(em, actor, input.chestId, 'manage');
  let erased = 0;
  for (;;) {
    const rows = await em.execute<{ id: string }[]>(
      'select id from asset where chest_id = ? and deleted_at is not null order by deleted_at desc, id desc limit ?',
      [chest.id, PURGE_BATCH],
    );
    if (rows.length === 0) return erased;
    const report = await purgeAssets(em, storage, { assetIds: rows.map((r) => r.id), where: { chestId: chest.id, binned: true } });
    erased += report.assetIds.length;
  }
}

/** Chest.bin: owners only (FORBIDDEN for other readers, as Chest.contributions). */
export async function assertMaySeeBin(actor: Actor, chest: Chest): Promise<void> {
  await assertMay(actor, chest, 'manage');
}

/**
 * Asset.canDelete: whether deleteMemory would take this memory from this caller: owners, and the
 * editor who added it. A guest's memory still waiting for review (reached through
 * Contribution.assets) is not in the chest yet: deleteMemory does not know it (rejectContributionMemory
 * refuses it), so false. `visible` is the request's batched loader of visible memories by id.
 */
export async function mayBin(actor: Actor, asset: Pick<Asset, 'id' | 'chest' | 'addedBy' | 'deletedAt' | 'contribution' | 'approvedAt'>, visible: (id: string) => Promise<unknown>): Promise<boolean> {
  if (asset.deletedAt || !actor.accountId) return false;
  const role = await actor.roles.load(asset.chest.id);
  const may = role === ChestRole.OWNER || (role === ChestRole.EDITOR && asset.addedBy?.id === actor.accountId);
  if (!may || !asset.contribution || asset.approvedAt) return may;
  return (await visible(asset.id)) != null;
}

/** Who binned a memory is for owners; everyone else gets null. */
export async function maySeeWhoBinned(actor: Actor, chestId: string): Promise<boolean> {
  return (actor.accountId ? await actor.roles.load(chestId) : null) === ChestRole.OWNER;
}
