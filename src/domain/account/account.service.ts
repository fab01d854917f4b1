import { hash, verify } from '@node-rs/argon2';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Session } from '../../db/entities/index.js';
import { executeParameterised } from '../../db/parameterised.js';
import type { Actor } from '../actor.js';
import { requireAccount } from '../access/access.service.js';
import { AppError, ErrorCode } from '../errors.js';
import type { ClientGuard } from '../rate-limit/client-guard.js';
import { hashToken, looksLikeToken, newToken } from '../tokens.js';
import { parseInput } from '../validation.js';
import type { SessionCache, SessionRevocations } from './session-cache.js';
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

/** What signUp answers, the same whether the email was new or already registered. */
export interface SignUpReceipt {
  /** The email as stored: trimmed and lower-cased. */
  email: string;
}

/**
 * Creates an account, unless the email is already registered: then nothing changes. The answer is
 * the same in both cases, and so is the work (an argon2 hash either way), so signUp cannot be used
 * to learn who has an account. The session comes from signIn. The price: someone who forgot they
 * had an account learns it only when signIn refuses their new password (there is no email
 * delivery through which to tell the address's owner privately).
 */
export async function signUp(em: EntityManager, input: SignUpInput, guard: ClientGuard): Promise<SignUpReceipt> {
  const data = parseInput(signUpInput, input);
  await guard.limiter.take(em, 'signup-client', guard.clientAddress);
  const passwordHash = await hash(data.password);
  // One statement whether or not the email is taken, so both take the same time.
  const inserted = await em.execute<{ id: string }[]>(
    `insert into account (id, created_at, updated_at, email, display_name, password_hash)
     values (gen_random_uuid(), now(), now(), ?, ?, ?) on conflict (email) do nothing returning id`,
    [data.email, data.displayName, passwordHash],
  );
  if (inserted.length) await adoptOrphanChests(em, inserted[0]!.id);
  return { email: data.email };
}

/**
 * Chests made before accounts existed belong to the household that runs the server. The first
 * account signed up becomes their owner, so upgrading never leaves a chest that nobody can open.
 */
async function adoptOrphanChests(em: EntityManager, accountId: string): Promise<void> {
  if ((await em.count(Account, {})) !== 1) return;
  await em.execute(
    `insert into membership (id, created_at, updated_at, chest_id, account_id, role)
     select gen_random_uuid(), now(), now(), c.id, ?, 'OWNER' from chest c
     where not exists (select 1 from membership m where m.chest_id = c.id)`,
    [accountId],
  );
}

/**
 * Signs in. Every attempt is counted before the password is checked, per email (whether or not it
 * has an account, so the limit reveals nothing) and per client address: after a few failures each
 * further attempt must wait 2^n seconds, but never past the end of the counting window
 * (SIGNIN_LOCKOUT_MINUTES), so a stranger cannot keep the owner out for longer than that. A
 * refused attempt checks no password and counts nothing. A correct password ends the account's
 * delays and gives the address its attempt back.
 */
export async function signIn(em: EntityManager, input: SignInInput, policy: SessionPolicy, guard: ClientGuard): Promise<SignedIn> {
  const data = parseInput(signInInput, input);
  const { limiter, clientAddress } = guard;
  // A held-back account costs one read: no write, no password check.
  await limiter.check(em, 'signin-account', data.email);
  await limiter.take(em, 'signin-client', clientAddress);
  try {
    await limiter.take(em, 'signin-account', data.email);
  } catch (err) {
    await limiter.refund(em, 'signin-client', clientAddress);
    throw err;
  }
  const account = await em.findOne(Account, { email: data.email });
  const ok = await verify(account?.passwordHash ?? (await DUMMY_HASH), data.password).catch(() => false);
  if (!account || !ok) throw new AppError(ErrorCode.UNAUTHENTICATED, WRONG);
  await limiter.reset(em, 'signin-account', data.email);
  await limiter.refund(em, 'signin-client', clientAddress);
  return startSession(em, account, policy);
}

/**
 * Ends the session the request came with. `sessions` (the process's session cache) forgets it
 * before this answers and tells the other processes, so the next request with the token is refused.
 */
export async function signOut(em: EntityManager, actor: Actor, sessionToken: string | null, sessions?: SessionRevocations | null): Promise<boolean> {
  requireAccount(actor);
  if (!sessionToken) return false;
  const ended = await em.execute<{ id: string }[]>(
    'update session set revoked_at = now(), updated_at = now() where token_hash = ? and revoked_at is null returning id',
    [hashToken(sessionToken)],
  );
  for (const { id } of ended) sessions?.revoked(id);
  return ended.length > 0;
}

/**
 * The account behind a bearer token, or UNAUTHENTICATED when it is unknown, expired or revoked.
 * With `sessions`, a session this process found live within the last few seconds is believed
 * without asking again (session-cache.ts says how a revocation still stops it); without, every
 * call asks the database.
 */
export async function authenticate(em: EntityManager, token: string, sessions?: SessionCache | null): Promise<string> {
  if (!looksLikeToken(token)) throw invalidSession();
  const tokenHash = hashToken(token);
  const known = sessions?.get(tokenHash);
  if (known) return known;
  const mark = sessions?.mark() ?? 0;
  // One fixed SQL text with its parameter apart (planned once per connection: db/prepared-statements.ts),
  // no query builder and no entity: the database says whether the session is live (issue 14).
  const [session] = await executeParameterised<{ id: string; account_id: string; expires_at: Date; live: boolean }>(
    em,
    'select id, account_id, expires_at, (revoked_at is null and expires_at > now()) as live from session where token_hash = ?',
    [tokenHash],
  );
  if (!session?.live) throw invalidSession();
  sessions?.remember(tokenHash, { sessionId: session.id, accountId: session.account_id, expiresAt: new Date(session.expires_at) }, mark);
  return session.account_id;
}

const invalidSession = () => new AppError(ErrorCode.UNAUTHENTICATED, 'Session is invalid or has expired; sign in again');

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
