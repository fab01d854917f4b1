import { type EntityManager, wrap } from '@mikro-orm/postgresql';
import { Chest } from '../../db/entities/index.js';
import { executeParameterised } from '../../db/parameterised.js';
import { ChestRole } from '../../db/enums.js';
import type { Actor } from '../actor.js';
import { AppError, ErrorCode, notFound } from '../errors.js';
import { isUuid } from '../validation.js';

/**
 * The one place that decides who may do what with a chest. Every use case asks it first; nested
 * fields ask it too. A chest the caller may not see is NOT_FOUND, never FORBIDDEN, so ids leak
 * nothing; a chest they may see but not change is FORBIDDEN (or UNAUTHENTICATED when anonymous).
 */
export type Access = ChestRole | 'SHARE' | 'PUBLIC' | 'NONE';

export type ChestAction =
  /** See the chest, its visible memories, published stories and summary. */
  | 'read'
  /** Add and edit memories and stories, edit the chest's descriptive details. */
  | 'edit'
  /** Visibility, links, people, moderation, the bin. */
  | 'manage'
  /** Bring a chest back from the bin. */
  | 'restore'
  /** Coordinates, people, unpublished stories: the chest's own people only. */
  | 'member'
  /** Pending contributions and guests' messages. */
  | 'moderate';

const ALLOWED: Record<ChestAction, readonly Access[]> = {
  read: [ChestRole.OWNER, ChestRole.EDITOR, ChestRole.VIEWER, 'SHARE', 'PUBLIC'],
  edit: [ChestRole.OWNER, ChestRole.EDITOR],
  manage: [ChestRole.OWNER],
  restore: [ChestRole.OWNER],
  member: [ChestRole.OWNER, ChestRole.EDITOR, ChestRole.VIEWER],
  moderate: [ChestRole.OWNER, ChestRole.EDITOR],
};

/** How the actor reaches a chest. A deleted chest is reachable by nobody but for restore. */
export async function accessTo(actor: Actor, chest: Pick<Chest, 'id' | 'isPublic' | 'deletedAt'>): Promise<Access> {
  const role = actor.accountId ? await actor.roles.load(chest.id) : null;
  if (role) return role;
  if (chest.deletedAt) return 'NONE';
  if (actor.shareGrants.has(chest.id)) return 'SHARE';
  if (chest.isPublic) return 'PUBLIC';
  return 'NONE';
}

export async function may(actor: Actor, chest: Pick<Chest, 'id' | 'isPublic' | 'deletedAt'>, action: ChestAction): Promise<boolean> {
  const live = chest.deletedAt === null;
  if (action === 'restore' ? live : !live) return false;
  return ALLOWED[action].includes(await accessTo(actor, chest));
}

/** Loads a chest and checks the action, or throws NOT_FOUND / UNAUTHENTICATED / FORBIDDEN. */
export async function authorizeChest(em: EntityManager, actor: Actor, chestId: string, action: ChestAction): Promise<Chest> {
  const chest = isUuid(chestId) ? await loadChestWithRole(em, actor, chestId) : null;
  if (!chest) throw notFound('Chest');
  await assertMay(actor, chest, action);
  return chest;
}

/**
 * The chest, and for a signed-in caller their role in it in the same statement (a left join on
 * membership), handed to the request's role loader: the decision below is the same, one round
 * trip fewer before any data (issue 14). A chest this request already holds is not read again.
 */
async function loadChestWithRole(em: EntityManager, actor: Actor, chestId: string): Promise<Chest | null> {
  // A reference (a memory's or story's chest, not loaded yet) counts as not held: findOne would load it too.
  const held = em.getUnitOfWork().getById(Chest, chestId);
  if (held && wrap(held).isInitialized()) return held;
  if (!actor.accountId || actor.knownRole(chestId) !== undefined) return em.findOne(Chest, { id: chestId });
  const [row] = await executeParameterised<Record<string, unknown>>(
    em,
    'select c.*, m.role as role__ from chest c left join membership m on m.chest_id = c.id and m.account_id = ? where c.id = ?',
    [actor.accountId, chestId],
  );
  if (!row) return null;
  const { role__: role, ...columns } = row;
  actor.roles.prime(chestId, (role as ChestRole | null) ?? null);
  return em.map(Chest, columns);
}

export async function assertMay(actor: Actor, chest: Chest, action: ChestAction): Promise<void> {
  if (await may(actor, chest, action)) return;
  // Only someone who could read the chest learns that it exists.
  const visible = action !== 'restore' && (await may(actor, chest, 'read'));
  if (!visible) throw notFound('Chest');
  if (!actor.accountId) throw new AppError(ErrorCode.UNAUTHENTICATED, 'Sign in to do this');
  throw new AppError(ErrorCode.FORBIDDEN, 'Your role in this chest does not allow this');
}

/** Coordinates reveal where a family lives: only the chest's own people receive them. */
export async function maySeeLocation(actor: Actor, chestId: string): Promise<boolean> {
  const role = actor.accountId ? await actor.roles.load(chestId) : null;
  return role !== null;
}

/**
 * maySeeLocation without a promise, when the caller's role in the chest is already known in this
 * request (it is once the chest itself was authorised, so every memory below it is decided at
 * once); undefined when it is not, and then the caller must ask maySeeLocation. The same rule.
 */
export function maySeeLocationNow(actor: Actor, chestId: string): boolean | undefined {
  const role = actor.knownRole(chestId);
  return role === undefined ? undefined : role !== null;
}

/**
 * Originals (and their real file names) carry what the bytes and names say: GPS in a photo, a
 * video or a voice memo, an author in a PDF, a street in "12 Rue X.m4a". The chest's own people
 * get them; others only through a view link whose owner allowed it (allowOriginals). Everyone
 * else who may read gets the metadata-free derivatives (Asset.previewUrl, thumbnails).
 */
export async function mayHaveOriginal(actor: Actor, chestId: string): Promise<boolean> {
  return actor.originalGrants.has(chestId) || (await maySeeLocation(actor, chestId));
}

/** mayHaveOriginal without a promise when already known (as maySeeLocationNow); undefined when not. */
export function mayHaveOriginalNow(actor: Actor, chestId: string): boolean | undefined {
  return actor.originalGrants.has(chestId) || maySeeLocationNow(actor, chestId);
}

/** A value now, or its promise: what a field resolver may return (graphql-js completes plain values without a promise). */
export type Maybe<T> = T | Promise<T>;

/**
 * Applies `then` to a yes/no decision: at once when `now` already holds it, else once `ask`
 * (the same rule, asynchronously) answers. For the per-memory fields, which are decided per chest.
 */
export function decide<T>(now: boolean | undefined, ask: () => Promise<boolean>, then: (allowed: boolean) => Maybe<T>): Maybe<T> {
  return now === undefined ? ask().then(then) : then(now);
}

/** Operations that need an account (creating chests, listing "my chests"). */
export function requireAccount(actor: Actor): string {
  if (!actor.accountId) throw new AppError(ErrorCode.UNAUTHENTICATED, 'Sign in to do this');
  return actor.accountId;
}
