import type { EntityManager } from '@mikro-orm/postgresql';
import { indexStories } from '../search/story-entries.js';
import { Account, Asset, Chest, Membership } from '../../db/entities/index.js';
import { ChestRole } from '../../db/enums.js';
import { assertMay, authorizeChest, requireAccount } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { badInput, conflict, notFound } from '../errors.js';
import { decodeCursor, encodeCursor, lazyEdges, type Page, type PageArgs, pageSize } from '../pagination.js';
import { isUuid, parseInput } from '../validation.js';
import { VISIBLE_ASSET_FILTER } from '../asset/asset.queries.js';
import { type CreateChestInput, createChestInput, type UpdateChestInput, updateChestInput } from './chest.input.js';

/** Opens a new chest; the caller becomes its owner. Chests start private, with no links. */
export async function createChest(em: EntityManager, actor: Actor, input: CreateChestInput): Promise<Chest> {
  const accountId = requireAccount(actor);
  const data = parseInput(createChestInput, input);
  checkLifeDates(data.birthDate ?? null, data.passingDate ?? null);
  const chest = em.create(Chest, {
    personName: data.personName,
    description: data.description || null,
    birthDate: data.birthDate ?? null,
    passingDate: data.passingDate ?? null,
    isPublic: data.isPublic ?? false,
    allowContributions: data.allowContributions ?? false,
  });
  em.create(Membership, { chest, account: em.getReference(Account, accountId), role: ChestRole.OWNER });
  await em.flush();
  actor.roles.clear(chest.id);
  return chest;
}

/** Changes a chest's details. Omitted fields stay; null clears. Visibility settings are the owners'. */
export async function updateChest(em: EntityManager, actor: Actor, chestId: string, input: UpdateChestInput): Promise<Chest> {
  const chest = await authorizeChest(em, actor, chestId, 'edit');
  const data = parseInput(updateChestInput, input);
  if (data.isPublic !== undefined || data.allowContributions !== undefined) await assertMay(actor, chest, 'manage');
  const birthDate = data.birthDate === undefined ? chest.birthDate : data.birthDate;
  const passingDate = data.passingDate === undefined ? chest.passingDate : data.passingDate;
  checkLifeDates(birthDate, passingDate);
  if (data.personName !== undefined) chest.personName = data.personName;
  if (data.description !== undefined) chest.description = data.description || null;
  chest.birthDate = birthDate;
  chest.passingDate = passingDate;
  if (data.isPublic !== undefined) chest.isPublic = data.isPublic;
  if (data.allowContributions !== undefined) chest.allowContributions = data.allowContributions;
  if (data.heroImageId !== undefined) chest.heroImage = data.heroImageId === null ? null : await heroImageOf(em, chest, data.heroImageId);
  await em.flush();
  // The person's own name is never rewritten in their stories: which words are hidden names depends on it.
  if (data.personName !== undefined) await indexStories(em, { chestIds: [chest.id] });
  return chest;
}

/** Moves a chest to the bin: it disappears from every read until an owner restores it. Nothing is erased. */
export async function deleteChest(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  const chest = await authorizeChest(em, actor, chestId, 'manage');
  chest.deletedAt = new Date();
  await em.flush();
  return chest;
}

/** Brings a chest back from the bin. */
export async function restoreChest(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  const chest = isUuid(chestId) ? await em.findOne(Chest, { id: chestId }) : null;
  if (!chest) throw notFound('Chest');
  if (chest.deletedAt === null) {
    await assertMay(actor, chest, 'manage');
    throw conflict('Chest is not deleted');
  }
  await assertMay(actor, chest, 'restore');
  chest.deletedAt = null;
  await em.flush();
  return chest;
}

export async function getChest(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  return authorizeChest(em, actor, chestId, 'read');
}

export interface ListChestsInput extends PageArgs {
  /** List the bin (chests the caller owns that are deleted) instead of live chests. */
  deleted?: boolean | null;
}

/** The caller's chests (any role; the bin: owned only), newest first, as a keyset page. */
export async function listChests(em: EntityManager, actor: Actor, args: ListChestsInput, maxPageSize: number): Promise<Page<Chest>> {
  const limit = pageSize(args.first, maxPageSize);
  const after = decodeCursor(args.after);
  if (!actor.accountId) return { items: [], hasNextPage: false };
  // Walk memberships joined to their chests: "my chests" is the account's memberships.
  const found = await em.find(
    Membership,
    {
      account: actor.accountId,
      ...(args.deleted && { role: ChestRole.OWNER }),
      chest: {
        deletedAt: args.deleted ? { $ne: null } : null,
        ...(after && {
          $or: [{ createdAt: { $lt: new Date(after.c) } }, { createdAt: new Date(after.c), id: { $lt: after.i } }],
        }),
      },
    },
    { populate: ['chest'], orderBy: [{ chest: { createdAt: 'desc' } }, { chest: { id: 'desc' } }], limit: limit + 1 },
  );
  const rows = found.map((m) => m.chest);
  return {
    items: lazyEdges(rows, limit, chestCursor),
    hasNextPage: rows.length > limit,
  };
}

function checkLifeDates(birthDate: string | null, passingDate: string | null): void {
  // ISO dates compare correctly as strings.
  if (birthDate && passingDate && passingDate < birthDate) {
    throw badInput('passingDate', 'passingDate: must not be before birthDate');
  }
}

async function heroImageOf(em: EntityManager, chest: Chest, assetId: string): Promise<Asset> {
  // Only a memory everyone who reads the chest may see: not in the bin, not a guest's awaiting review.
  const asset = isUuid(assetId) ? await em.findOne(Asset, { id: assetId, chest: chest.id, ...VISIBLE_ASSET_FILTER }) : null;
  if (!asset) throw badInput('heroImageId', 'heroImageId: no such memory in this chest');
  if (asset.fileType !== 'IMAGE') throw badInput('heroImageId', 'heroImageId: must be an image');
  return asset;
}

const chestCursor = (chest: Chest): string => encodeCursor({ c: chest.createdAt.toISOString(), i: chest.id });
