import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Asset, Chest, Contribution } from '../../db/entities/index.js';
import { ChestEventKind, ContributionStatus } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import type { EventBus } from '../../events/events.port.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';
import { assertMay, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { chestForContributionLink } from '../chest/chest-links.service.js';
import { conflict, notFound } from '../errors.js';
import { type ClientGuard, guardedLookup } from '../rate-limit/client-guard.js';
import { hashToken, looksLikeToken, newToken } from '../tokens.js';
import { isUuid, parseInput, text } from '../validation.js';

const submitInput = z
  .object({
    /** How the guest signs; 1..200 characters. */
    contributorName: text(200).refine((s) => s.length > 0, { message: 'must not be empty' }),
    /** How they knew the person, in their words. */
    relationship: text(200).nullish(),
    /** A message to the family; up to 5000 characters. */
    message: text(5000, { multiline: true }).nullish(),
  })
  .strict();
export type SubmitContributionInput = z.input<typeof submitInput>;

export interface SubmittedContribution {
  contribution: Contribution;
  /** The guest's own token: shows them the status, and later lets them attach memories. Shown once. */
  guestToken: string;
}

/**
 * A guest, without an account, sends a contribution through a chest's contribution link. It is
 * PENDING and seen only by owners and editors until an owner approves it. A wrong link counts
 * against the client's token guesses; submissions are limited per link and client and per link
 * (the rate limiter counts in the database, so limits hold across API processes).
 */
export async function submitContribution(
  em: EntityManager,
  linkToken: string,
  input: SubmitContributionInput,
  guard: ClientGuard,
  events: EventBus,
): Promise<SubmittedContribution> {
  const chest = await guardedLookup(em, guard, 'contribution-token', () => chestForContributionLink(em, linkToken));
  const data = parseInput(submitInput, input);
  const { limiter, clientAddress } = guard;
  await limiter.take(em, 'contribution-client', `${chest.id}:${clientAddress}`);
  try {
    await limiter.take(em, 'contribution-link', chest.id);
  } catch (err) {
    // Refused for the link as a whole: this client's own allowance is not spent.
    await limiter.refund(em, 'contribution-client', `${chest.id}:${clientAddress}`);
    throw err;
  }
  const { token, hash } = newToken();
  const contribution = em.create(Contribution, {
    chest,
    contributorName: data.contributorName,
    relationship: data.relationship || null,
    message: data.message || null,
    guestTokenHash: hash,
  });
  const message = await withinTransaction(em, async () => {
    return appendChestEvent(em, { chestId: chest.id, kind: ChestEventKind.CONTRIBUTION_SUBMITTED, contributionId: contribution.id });
  });
  publishChestEvents(events, [message]);
  return { contribution, guestToken: token };
}

/** A guest looks up their own contribution with the token they got back (failures count as guesses). */
export async function getContributionByGuestToken(em: EntityManager, guestToken: string, guard: ClientGuard): Promise<Contribution> {
  return guardedLookup(em, guard, 'guest-token', async () => {
    const c = looksLikeToken(guestToken) ? await em.findOne(Contribution, { guestTokenHash: hashToken(guestToken) }, { populate: ['chest'] }) : null;
    if (!c || c.chest.deletedAt) throw notFound('Contribution');
    return c;
  });
}

/** Owners approve: the contribution's memories become part of the chest. */
export async function approveContribution(em: EntityManager, actor: Actor, contributionId: string, events: EventBus): Promise<Contribution> {
  return review(em, actor, contributionId, ContributionStatus.APPROVED, null, events);
}

/** Owners reject, optionally saying why (the guest sees the reason). */
export async function rejectContribution(em: EntityManager, actor: Actor, contributionId: string, reason?: string | null): Promise<Contribution> {
  const why = parseInput(z.object({ reason: text(1000, { multiline: true }).nullish() }), { reason }).reason || null;
  return review(em, actor, contributionId, ContributionStatus.REJECTED, why, null);
}

async function review(
  em: EntityManager,
  actor: Actor,
  contributionId: string,
  status: ContributionStatus,
  reason: string | null,
  /** Approval publishes MEMORY_ADDED for each of the contribution's memories. */
  events: EventBus | null,
): Promise<Contribution> {
  const found = isUuid(contributionId) ? await em.findOne(Contribution, { id: contributionId }) : null;
  if (!found) throw notFound('Contribution');
  // Access first: those who may not see the chest's contributions learn nothing of this one;
  // editors see them but only owners decide.
  const chest = await em.findOneOrFail(Chest, { id: found.chest.id });
  if (!(await may(actor, chest, 'moderate'))) throw notFound('Contribution');
  await assertMay(actor, chest, 'manage');
  if (found.status !== ContributionStatus.PENDING) throw conflict(`Contribution is already ${found.status.toLowerCase()}`);
  found.status = status;
  found.reviewedAt = new Date();
  found.rejectionReason = reason;
  const added = await withinTransaction(em, async () => {
    if (status !== ContributionStatus.APPROVED) return [];
    // Memories an owner approved alone joined the chest (and said so) already.
    const assets = await em.find(Asset, { contribution: found.id, deletedAt: null, approvedAt: null }, { fields: ['id'], orderBy: { createdAt: 'asc', id: 'asc' } });
    const messages = [];
    for (const a of assets) messages.push(await appendChestEvent(em, { chestId: chest.id, kind: ChestEventKind.MEMORY_ADDED, assetId: a.id }));
    return messages;
  });
  if (events) publishChestEvents(events, added);
  return found;
}
