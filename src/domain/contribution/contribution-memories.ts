import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset, Chest, Contribution } from '../../db/entities/index.js';
import { ChestEventKind, ChestRole, ContributionStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { assertMay, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { purgeAssets } from '../asset/purge.js';
import { groupBy, lateralPages } from '../batch.js';
import { AppError, ErrorCode, notFound } from '../errors.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';
import { decodeCursor, encodeCursor, lazyEdges, type Page } from '../pagination.js';
import { isUuid } from '../validation.js';

/**
 * Moderation one memory at a time. While a contribution waits, an owner may approve single
 * memories (each becomes visible at once, the rest keeps waiting) or reject them (erased at once,
 * files and all: the family never saw them, and a guest's photo nobody accepted is not kept).
 * Approving the whole contribution later adds what is left; a rejected memory is gone, so it can
 * never become visible.
 */

export interface ContributionMemoryRef {
  /** The memory (asset) of a pending contribution. */
  assetId: string;
}

export const alreadyReviewed = (what: string) => new AppError(ErrorCode.ALREADY_REVIEWED, what);

interface Reviewable {
  asset: Asset;
  contribution: Contribution;
  chest: Chest;
}

/**
 * A memory of a contribution, for an owner. Those who may not see the chest's contributions
 * (viewers, link holders, guests, strangers) learn nothing of it: NOT_FOUND; editors see it and
 * get FORBIDDEN (only owners decide, as for whole contributions).
 */
async function reviewable(em: EntityManager, actor: Actor, assetId: string): Promise<Reviewable> {
  const asset = isUuid(assetId) ? await em.findOne(Asset, { id: assetId, contribution: { $ne: null }, deletedAt: null }) : null;
  if (!asset) throw notFound('Asset');
  const chest = await em.findOneOrFail(Chest, { id: asset.chest.id });
  if (!(await may(actor, chest, 'moderate'))) throw notFound('Asset');
  await assertMay(actor, chest, 'manage');
  const contribution = await em.findOneOrFail(Contribution, { id: asset.contribution!.id });
  return { asset, contribution, chest };
}

/**
 * Locks the contribution (an approval of the whole, or a late upload into it, waits) and checks
 * that this memory still waits: its contribution PENDING and the memory not approved alone.
 */
async function lockWaiting(tx: EntityManager, r: Reviewable): Promise<void> {
  const [row] = await tx.execute<{ status: ContributionStatus }[]>('select status from contribution where id = ? for update', [r.contribution.id]);
  const [asset] = await tx.execute<{ approved_at: Date | null; deleted_at: Date | null }[]>('select approved_at, deleted_at from asset where id = ? for update', [r.asset.id]);
  if (!row || !asset || asset.deleted_at) throw notFound('Asset');
  if (row.status !== ContributionStatus.PENDING) throw alreadyReviewed(`The contribution is already ${row.status.toLowerCase()}`);
  if (asset.approved_at) throw alreadyReviewed('This memory is already approved');
}

/** Owners: one memory of a pending contribution joins the chest now; the others keep waiting. */
export async function approveContributionMemory(em: EntityManager, actor: Actor, input: ContributionMemoryRef, events: EventBus): Promise<Asset> {
  const r = await reviewable(em, actor, input.assetId);
  const message = await em.transactional(async (tx) => {
    await lockWaiting(tx, r);
    await tx.execute('update asset set approved_at = now() where id = ?', [r.asset.id]);
    return appendChestEvent(tx, { chestId: r.chest.id, kind: ChestEventKind.MEMORY_ADDED, assetId: r.asset.id });
  });
  publishChestEvents(events, [message]);
  return em.findOneOrFail(Asset, { id: r.asset.id }, { refresh: true });
}

/** Owners: one memory of a pending contribution is erased (row and files); answers the contribution. */
export async function rejectContributionMemory(em: EntityManager, storage: StorageBackend, actor: Actor, input: ContributionMemoryRef): Promise<Contribution> {
  const r = await reviewable(em, actor, input.assetId);
  await em.transactional((tx) => lockWaiting(tx, r));
  // purgeAssets takes the row only while it still waits (its contribution PENDING, it not approved
  // alone), in the statement that locks it: an approval that slipped in between wins, nothing is erased.
  const purged = await purgeAssets(em, storage, { assetIds: [r.asset.id], where: { chestId: r.chest.id, waitingIn: r.contribution.id } });
  if (purged.assetIds.length === 0) throw alreadyReviewed('This memory was reviewed meanwhile');
  return r.contribution;
}

/** Contribution.assets: owners and editors see the memories they review (with thumbnails); everyone else null. */
export async function maySeeContributionAssets(actor: Actor, contribution: Pick<Contribution, 'chest'>): Promise<boolean> {
  const role = actor.accountId ? await actor.roles.load(contribution.chest.id) : null;
  return role === ChestRole.OWNER || role === ChestRole.EDITOR;
}

/** One page request of one contribution's memories. */
export interface ContributionAssetPageKey {
  contributionId: string;
  limit: number;
  after?: string | null;
}

const sentCursor = (a: Asset): string => encodeCursor({ c: a.createdAt.toISOString(), i: a.id });

/**
 * Pages of many contributions' memories (not binned; pending, approved alone or with the whole) in
 * the order they were sent: one statement per distinct (limit, after), each page read from the
 * asset's contribution index.
 */
export async function loadContributionAssetPages(em: EntityManager, keys: readonly ContributionAssetPageKey[]): Promise<Page<Asset>[]> {
  const results = new Map<ContributionAssetPageKey, Page<Asset>>();
  for (const group of groupBy(keys, (k) => JSON.stringify([k.limit, k.after ?? null]))) {
    const { limit, after } = group[0]!;
    const cursor = decodeCursor(after);
    const { sql, params } = lateralPages({
      parents: group.map((k) => k.contributionId),
      from: 'asset a',
      alias: 'a',
      ofParent: 'a.contribution_id = k__.parent',
      where: ['a.deleted_at is null'],
      conditions: cursor ? [{ sql: '(a.created_at, a.id) > (?::timestamptz, ?::uuid)', params: [cursor.c, cursor.i] }] : [],
      orderBy: 'a.created_at, a.id',
      limit: limit + 1,
      extra: 'k__.parent as contribution__',
    });
    const rows = await em.execute<Record<string, unknown>[]>(sql, params);
    const byContribution = new Map<string, Asset[]>();
    for (const { contribution__: parent, ...row } of rows) {
      const list = byContribution.get(parent as string) ?? [];
      list.push(em.map(Asset, row));
      byContribution.set(parent as string, list);
    }
    for (const key of group) {
      const list = byContribution.get(key.contributionId) ?? [];
      results.set(key, { items: lazyEdges(list, limit, sentCursor), hasNextPage: list.length > limit });
    }
  }
  return keys.map((k) => results.get(k)!);
}
