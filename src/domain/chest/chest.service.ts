import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset, Chest } from '../../db/entities/index.js';
import { authorizeChest, mayListChests } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { badInput, conflict, notFound } from '../errors.js';
import { decodeCursor, encodeCursor, type Page, type PageArgs, pageSize } from '../pagination.js';
import { isUuid, parseInput } from '../validation.js';
import { type CreateChestInput, createChestInput, type UpdateChestInput, updateChestInput } from './chest.input.js';
import { hashShareToken, newShareToken } from './share-token.js';

export interface ChestWithToken {
  chest: Chest;
  /** Shown once: only its hash is kept. */
  shareToken: string;
}

/** Opens a new chest. The caller gets the share token once. */
export async function createChest(em: EntityManager, actor: Actor, input: CreateChestInput): Promise<ChestWithToken> {
  if (!mayListChests(actor)) throw notFound('Chest');
  const data = parseInput(createChestInput, input);
  checkLifeDates(data.birthDate ?? null, data.passingDate ?? null);
  const { token, hash } = newShareToken();
  const chest = em.create(Chest, {
    personName: data.personName,
    description: data.description || null,
    birthDate: data.birthDate ?? null,
    passingDate: data.passingDate ?? null,
    isPublic: data.isPublic ?? false,
    allowContributions: data.allowContributions ?? false,
    shareTokenHash: hash,
  });
  await em.flush();
  return { chest, shareToken: token };
}

/** Changes a chest's details. Omitted fields stay; null clears. */
export async function updateChest(em: EntityManager, actor: Actor, chestId: string, input: UpdateChestInput): Promise<Chest> {
  const chest = await authorizeChest(em, actor, chestId, 'write');
  const data = parseInput(updateChestInput, input);
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
  return chest;
}

/** Moves a chest to the bin: it disappears from every read until restored. Nothing is erased. */
export async function deleteChest(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  const chest = await authorizeChest(em, actor, chestId, 'write');
  chest.deletedAt = new Date();
  await em.flush();
  return chest;
}

/** Brings a chest back from the bin. */
export async function restoreChest(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  const chest = await authorizeChest(em, actor, chestId, 'restore');
  if (chest.deletedAt === null) throw conflict('Chest is not deleted');
  chest.deletedAt = null;
  await em.flush();
  return chest;
}

/** Replaces the share token; the old one stops working at once. */
export async function rotateShareToken(em: EntityManager, actor: Actor, chestId: string): Promise<ChestWithToken> {
  const chest = await authorizeChest(em, actor, chestId, 'write');
  const { token, hash } = newShareToken();
  chest.shareTokenHash = hash;
  await em.flush();
  return { chest, shareToken: token };
}

export async function getChest(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  return authorizeChest(em, actor, chestId, 'read');
}

/** A share token opens its chest for reading, public or not, while the chest is live. */
export async function getChestByShareToken(em: EntityManager, _actor: Actor, token: string): Promise<Chest> {
  // A share token is 43 base64url characters; anything else cannot match, so no query is spent on it.
  const chest = /^[A-Za-z0-9_-]{43}$/.test(token)
    ? await em.findOne(Chest, { shareTokenHash: hashShareToken(token), deletedAt: null })
    : null;
  if (!chest) throw notFound('Chest');
  return chest;
}

export interface ListChestsInput extends PageArgs {
  /** List the bin instead of live chests. */
  deleted?: boolean | null;
}

/** Chests newest first, as a keyset page. */
export async function listChests(em: EntityManager, actor: Actor, args: ListChestsInput, maxPageSize: number): Promise<Page<Chest>> {
  if (!mayListChests(actor)) return { items: [], hasNextPage: false };
  const limit = pageSize(args.first, maxPageSize);
  const after = decodeCursor(args.after);
  const rows = await em.find(
    Chest,
    {
      deletedAt: args.deleted ? { $ne: null } : null,
      ...(after && {
        $or: [{ createdAt: { $lt: new Date(after.c) } }, { createdAt: new Date(after.c), id: { $lt: after.i } }],
      }),
    },
    { orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], limit: limit + 1 },
  );
  return {
    items: rows.slice(0, limit).map((node) => ({ node, cursor: encodeCursor({ c: node.createdAt.toISOString(), i: node.id }) })),
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
  const asset = isUuid(assetId) ? await em.findOne(Asset, { id: assetId, chest: chest.id, deletedAt: null }) : null;
  if (!asset) throw badInput('heroImageId', 'heroImageId: no such memory in this chest');
  if (asset.fileType !== 'IMAGE') throw badInput('heroImageId', 'heroImageId: must be an image');
  return asset;
}
