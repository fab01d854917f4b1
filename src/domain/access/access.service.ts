import type { EntityManager } from '@mikro-orm/postgresql';
import { Chest } from '../../db/entities/index.js';
import type { Actor } from '../actor.js';
import { notFound } from '../errors.js';
import { isUuid } from '../validation.js';

/**
 * The one place that decides who may do what with a chest. Every use case calls it first.
 * A chest the caller may not see is NOT_FOUND, never FORBIDDEN, so ids leak nothing.
 *
 * Until accounts exist every actor is the household (see actor.ts): it may read and write every
 * live chest. Soft-deleted chests are only reachable through restore.
 */
export type ChestAction = 'read' | 'write' | 'restore';

export async function authorizeChest(em: EntityManager, actor: Actor, chestId: string, action: ChestAction): Promise<Chest> {
  const chest = isUuid(chestId) ? await em.findOne(Chest, { id: chestId }) : null;
  if (!chest || !may(actor, chest, action)) throw notFound('Chest');
  return chest;
}

function may(actor: Actor, chest: Chest, action: ChestAction): boolean {
  const live = chest.deletedAt === null;
  switch (actor.kind) {
    case 'household':
      return action === 'restore' ? true : live;
  }
}

/** Whether the actor may list chests beyond those it reaches by id or token. */
export function mayListChests(actor: Actor): boolean {
  return actor.kind === 'household';
}

/** Coordinates reveal where a family lives: only the chest's own people receive them. */
export function maySeeLocation(actor: Actor, _chest: Pick<Chest, 'id'>): boolean {
  return actor.kind === 'household';
}
