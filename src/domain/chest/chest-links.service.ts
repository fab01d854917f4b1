import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Chest } from '../../db/entities/index.js';
import { assertMay, authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { conflict, notFound } from '../errors.js';
import { hashToken, looksLikeToken, newToken } from '../tokens.js';
import { parseInput, STORABLE_RANGE_MESSAGE, storableInstant } from '../validation.js';

/** A link's token, shown once, and when it stops working. */
export interface IssuedLink {
  chest: Chest;
  token: string;
  expiresAt: Date | null;
}

/** The state of a chest's links, for its owners. */
export interface ChestLinks {
  shareLinkActive: boolean;
  shareLinkExpiresAt: Date | null;
  /** The view link hands out originals and file names (allowOriginals). */
  shareLinkAllowsOriginals: boolean;
  contributionLinkActive: boolean;
  contributionLinkExpiresAt: Date | null;
}

const linkInput = z.object({
  /** Optional expiry; must be in the future. */
  expiresAt: z
    .date()
    .nullish()
    .refine((d) => !d || d.getTime() > Date.now(), { message: 'must be in the future' })
    // "9999-12-31T23:00-14:00" parses, but is year 10000 in UTC, which the DateTimeISO scalar cannot print back.
    .refine((d) => !d || storableInstant(d), { message: STORABLE_RANGE_MESSAGE }),
});
export type LinkInput = z.input<typeof linkInput>;

const shareLinkInput = linkInput.extend({
  /** The link also hands out originals and real file names, which may reveal where things were recorded. Default false. */
  allowOriginals: z.boolean().nullish(),
});
export type ShareLinkInput = z.input<typeof shareLinkInput>;

/** The two links a chest can have, by the columns that hold them. */
const LINK_COLUMNS = {
  share: { hash: 'shareTokenHash', expiresAt: 'shareTokenExpiresAt' },
  contribution: { hash: 'contributionTokenHash', expiresAt: 'contributionTokenExpiresAt' },
} as const;
type LinkKind = keyof typeof LINK_COLUMNS;

/**
 * Issues a view link (replacing any earlier one): whoever holds it may read the chest, through
 * metadata-free derivatives only unless `allowOriginals` (then also originals and file names).
 */
export async function createShareLink(em: EntityManager, actor: Actor, chestId: string, input: ShareLinkInput): Promise<IssuedLink> {
  const { allowOriginals, ...link } = parseInput(shareLinkInput, input);
  return issueLink(em, actor, chestId, link, 'share', allowOriginals === true);
}

export async function revokeShareLink(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  return revokeLink(em, actor, chestId, 'share');
}

export async function createContributionLink(em: EntityManager, actor: Actor, chestId: string, input: LinkInput): Promise<IssuedLink> {
  return issueLink(em, actor, chestId, input, 'contribution', false);
}

export async function revokeContributionLink(em: EntityManager, actor: Actor, chestId: string): Promise<Chest> {
  return revokeLink(em, actor, chestId, 'contribution');
}

/** Owners only: a new token for one of the chest's links, replacing the old one. */
async function issueLink(em: EntityManager, actor: Actor, chestId: string, input: LinkInput, kind: LinkKind, allowOriginals: boolean): Promise<IssuedLink> {
  const chest = await authorizeChest(em, actor, chestId, 'manage');
  const { expiresAt } = parseInput(linkInput, input);
  if (kind === 'contribution' && !chest.allowContributions) throw conflict('Turn on allowContributions before making a contribution link');
  const { token, hash } = newToken();
  chest[LINK_COLUMNS[kind].hash] = hash;
  chest[LINK_COLUMNS[kind].expiresAt] = expiresAt ?? null;
  if (kind === 'share') chest.shareAllowsOriginals = allowOriginals;
  await em.flush();
  return { chest, token, expiresAt: expiresAt ?? null };
}

/** Owners only: the link stops working at once. */
async function revokeLink(em: EntityManager, actor: Actor, chestId: string, kind: LinkKind): Promise<Chest> {
  const chest = await authorizeChest(em, actor, chestId, 'manage');
  chest[LINK_COLUMNS[kind].hash] = null;
  chest[LINK_COLUMNS[kind].expiresAt] = null;
  if (kind === 'share') chest.shareAllowsOriginals = false;
  await em.flush();
  return chest;
}

/**
 * Opens the chest a share token belongs to and grants this request (or connection) read access
 * to it. Unknown, revoked and expired tokens, and deleted chests, are all NOT_FOUND.
 */
export async function openShareLink(em: EntityManager, actor: Actor, token: string): Promise<Chest> {
  const chest = looksLikeToken(token) ? await em.findOne(Chest, { shareTokenHash: hashToken(token), deletedAt: null }) : null;
  if (!chest || expired(chest.shareTokenExpiresAt)) throw notFound('Chest');
  actor.shareGrants.add(chest.id);
  if (chest.shareAllowsOriginals) actor.originalGrants.add(chest.id);
  return chest;
}

/** The chest a contribution link opens, while contributions are allowed. */
export async function chestForContributionLink(em: EntityManager, token: string): Promise<Chest> {
  const chest = looksLikeToken(token) ? await em.findOne(Chest, { contributionTokenHash: hashToken(token), deletedAt: null }) : null;
  if (!chest || !chest.allowContributions || expired(chest.contributionTokenExpiresAt)) throw notFound('Contribution link');
  return chest;
}

/** Link state of a chest already loaded (and readable) in this request; owners only. */
export async function getChestLinks(actor: Actor, chest: Chest): Promise<ChestLinks> {
  await assertMay(actor, chest, 'manage');
  return {
    shareLinkActive: chest.shareTokenHash !== null && !expired(chest.shareTokenExpiresAt),
    shareLinkExpiresAt: chest.shareTokenExpiresAt,
    shareLinkAllowsOriginals: chest.shareTokenHash !== null && chest.shareAllowsOriginals,
    contributionLinkActive: chest.contributionTokenHash !== null && chest.allowContributions && !expired(chest.contributionTokenExpiresAt),
    contributionLinkExpiresAt: chest.contributionTokenExpiresAt,
  };
}

const expired = (at: Date | null): boolean => at !== null && at.getTime() <= Date.now();
