import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Account, Chest, Membership } from '../../db/entities/index.js';
import { ChestRole } from '../../db/enums.js';
import { assertMay, authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { AppError, badInput, conflict, ErrorCode, notFound } from '../errors.js';
import { isUuid, parseInput } from '../validation.js';

const inviteInput = z.object({
  /** The invitee's account email. */
  email: z.string().trim().toLowerCase(),
  role: z.enum(ChestRole),
});
export type InviteInput = z.input<typeof inviteInput>;

/** Adds an existing account to a chest with a role. Owners only. */
export async function inviteMember(em: EntityManager, actor: Actor, chestId: string, input: InviteInput): Promise<Membership> {
  const chest = await authorizeChest(em, actor, chestId, 'manage');
  const data = parseInput(inviteInput, input);
  const account = await em.findOne(Account, { email: data.email });
  if (!account) throw badInput('email', 'email: no account has this email');
  if (await em.findOne(Membership, { chest, account })) throw conflict('That person is already a member of this chest');
  const membership = em.create(Membership, { chest, account, role: data.role });
  await em.flush();
  actor.roles.clear(chest.id);
  return membership;
}

/** Changes a member's role. Owners only; a chest always keeps at least one owner. */
export async function changeMemberRole(
  em: EntityManager,
  actor: Actor,
  chestId: string,
  accountId: string,
  role: ChestRole,
): Promise<Membership> {
  await authorizeChest(em, actor, chestId, 'manage');
  return lockedMembershipChange(em, actor, chestId, accountId, true, async (m) => {
    m.role = role;
    return m;
  });
}

/** Removes a member. Owners may remove anyone; any member may leave. The last owner cannot go. */
export async function removeMember(em: EntityManager, actor: Actor, chestId: string, accountId: string): Promise<boolean> {
  const chest = await authorizeChest(em, actor, chestId, 'read');
  const leaving = accountId === actor.accountId;
  await assertMay(actor, chest, leaving ? 'member' : 'manage');
  await lockedMembershipChange(em, actor, chestId, accountId, !leaving, async (m, tx) => {
    tx.remove(m);
    return m;
  });
  return true;
}

/** Members of a chest already loaded in this request; members only. `load` batches across chests. */
export async function listMembers(actor: Actor, chest: Chest, load: (chestId: string) => Promise<Membership[]>): Promise<Membership[]> {
  await assertMay(actor, chest, 'member');
  return load(chest.id);
}

/** Batch read behind listMembers: every chest's members in one statement, oldest first. */
export async function loadMembers(em: EntityManager, chestIds: readonly string[]): Promise<Membership[][]> {
  const all = await em.find(
    Membership,
    { chest: { $in: [...chestIds] } },
    { populate: ['account'], orderBy: [{ createdAt: 'asc' }, { id: 'asc' }] },
  );
  return chestIds.map((id) => all.filter((m) => m.chest.id === id));
}

/**
 * Runs a membership change with the chest row locked, then checks an owner remains. The lock
 * serialises concurrent changes, so two owners demoting each other cannot leave none; the
 * actor's own role is checked again under the lock, since it may have changed since the
 * request's first check.
 */
async function lockedMembershipChange(
  em: EntityManager,
  actor: Actor,
  chestId: string,
  accountId: string,
  ownerOnly: boolean,
  change: (m: Membership, tx: EntityManager) => Promise<Membership>,
): Promise<Membership> {
  const result = await em.transactional(async (tx) => {
    await tx.findOneOrFail(Chest, { id: chestId }, { lockMode: LockMode.PESSIMISTIC_WRITE });
    if (ownerOnly) {
      const mine = await tx.findOne(Membership, { chest: chestId, account: actor.accountId });
      if (mine?.role !== ChestRole.OWNER) throw new AppError(ErrorCode.FORBIDDEN, 'Your role in this chest does not allow this');
    }
    const m = isUuid(accountId) ? await tx.findOne(Membership, { chest: chestId, account: accountId }, { populate: ['account'] }) : null;
    if (!m) throw notFound('Member');
    const changed = await change(m, tx);
    await tx.flush();
    const owners = await tx.count(Membership, { chest: chestId, role: ChestRole.OWNER });
    if (owners === 0) throw conflict('A chest keeps at least one owner');
    return changed;
  });
  actor.roles.clear(chestId);
  return result;
}
