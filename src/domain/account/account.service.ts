import { hash, verify } from '@node-rs/argon2';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Session } from '../../db/entities/index.js';
import type { Actor } from '../actor.js';
import { requireAccount } from '../access/access.service.js';
import { AppError, badInput, ErrorCode } from '../errors.js';
import { hashToken, looksLikeToken, newToken } from '../tokens.js';
import { parseInput } from '../validation.js';
import { type SignInInput, signInInput, type SignUpInput, signUpInput } from './account.input.js';

export interface SignedIn {
  account: Account;
  /** The session's bearer token; only its hash is stored. */
  token: string;
  expiresAt: Date;
}

export interface SessionPolicy {
  /** How long a session lasts from sign-in. */
  ttlMs: number;
}

const WRONG = 'Email or password is wrong';
// Verifying against this when the email is unknown keeps both failures equally slow.
const DUMMY_HASH = hash('not-a-real-password-but-equally-slow');

/** Creates an account and signs it in. */
export async function signUp(em: EntityManager, input: SignUpInput, policy: SessionPolicy): Promise<SignedIn> {
  const data = parseInput(signUpInput, input);
  if (await em.findOne(Account, { email: data.email })) throw badInput('email', 'email: is already registered');
  const account = em.create(Account, { email: data.email, displayName: data.displayName, passwordHash: await hash(data.password) });
  await em.flush();
  await adoptOrphanChests(em, account);
  return startSession(em, account, policy);
}

/**
 * Chests made before accounts existed belong to the household that runs the server. The first
 * account signed up becomes their owner, so upgrading never leaves a chest that nobody can open.
 */
async function adoptOrphanChests(em: EntityManager, account: Account): Promise<void> {
  if ((await em.count(Account, {})) !== 1) return;
  await em.execute(
    `insert into membership (id, created_at, updated_at, chest_id, account_id, role)
     select gen_random_uuid(), now(), now(), c.id, ?, 'OWNER' from chest c
     where not exists (select 1 from membership m where m.chest_id = c.id)`,
    [account.id],
  );
}

export async function signIn(em: EntityManager, input: SignInInput, policy: SessionPolicy): Promise<SignedIn> {
  const data = parseInput(signInInput, input);
  const account = await em.findOne(Account, { email: data.email });
  const ok = await verify(account?.passwordHash ?? (await DUMMY_HASH), data.password).catch(() => false);
  if (!account || !ok) throw new AppError(ErrorCode.UNAUTHENTICATED, WRONG);
  return startSession(em, account, policy);
}

/** Ends the session the request came with. */
export async function signOut(em: EntityManager, actor: Actor, sessionToken: string | null): Promise<boolean> {
  requireAccount(actor);
  if (!sessionToken) return false;
  const n = await em.nativeUpdate(Session, { tokenHash: hashToken(sessionToken), revokedAt: null }, { revokedAt: new Date() });
  return n > 0;
}

/** The account behind a bearer token, or UNAUTHENTICATED when it is unknown, expired or revoked. */
export async function authenticate(em: EntityManager, token: string): Promise<string> {
  const session = looksLikeToken(token) ? await em.findOne(Session, { tokenHash: hashToken(token) }) : null;
  if (!session || session.revokedAt || session.expiresAt.getTime() <= Date.now()) {
    throw new AppError(ErrorCode.UNAUTHENTICATED, 'Session is invalid or has expired; sign in again');
  }
  return session.account.id;
}

export async function getViewer(em: EntityManager, actor: Actor): Promise<Account | null> {
  return actor.accountId ? em.findOne(Account, { id: actor.accountId }) : null;
}

async function startSession(em: EntityManager, account: Account, policy: SessionPolicy): Promise<SignedIn> {
  const { token, hash: tokenHash } = newToken();
  const expiresAt = new Date(Date.now() + policy.ttlMs);
  em.create(Session, { account, tokenHash, expiresAt });
  await em.flush();
  return { account, token, expiresAt };
}
