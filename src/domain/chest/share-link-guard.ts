import type { EntityManager } from '@mikro-orm/postgresql';
import type { Chest } from '../../db/entities/index.js';
import type { Actor } from '../actor.js';
import { type ClientGuard, guardedLookup } from '../rate-limit/client-guard.js';
import { openShareLink } from './chest-links.service.js';

/**
 * openShareLink for a token a client presents (chestByShareToken, X-Share-Token, connectionParams):
 * a wrong token counts as one guess against the client's limit, and past the limit even a right one
 * is refused. Re-checks of a token that already passed (subscriptions, per event) use openShareLink.
 */
export function openShareLinkAsClient(em: EntityManager, actor: Actor, token: string, guard: ClientGuard): Promise<Chest> {
  return guardedLookup(em, guard, 'share-token', () => openShareLink(em, actor, token));
}
