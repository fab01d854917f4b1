import type { EntityManager } from '@mikro-orm/postgresql';
import { AppError, ErrorCode } from '../errors.js';
import type { Bucket, RateLimiter } from './rate-limiter.js';

/** Who is asking, as the rate limits see it: the limiter and the request's client address. */
export interface ClientGuard {
  limiter: RateLimiter;
  /** req.ip (TRUST_PROXY_HOPS decides how much of X-Forwarded-For to believe); never stored. */
  clientAddress: string;
}

export type TokenBucket = Extract<Bucket, 'share-token' | 'contribution-token' | 'guest-token' | 'upload-secret'>;

/**
 * Runs a lookup by a bearer secret (share link, contribution link, guest token, upload secret)
 * under the client's limit of failed lookups. Only NOT_FOUND counts, so someone opening a valid
 * link many times is never limited. Past the limit even a correct secret is refused until the
 * window ends, and no lookup query runs: otherwise guessing would simply go on.
 *
 * Concurrency: the check and the count are two statements, so requests in flight at the same
 * moment from one address can each make one guess past the limit (with 256-bit secrets, harmless);
 * sequential guessing stops exactly at the limit.
 */
export async function guardedLookup<T>(em: EntityManager, guard: ClientGuard, bucket: TokenBucket, lookup: () => Promise<T>): Promise<T> {
  await guard.limiter.check(em, bucket, guard.clientAddress);
  try {
    return await lookup();
  } catch (err) {
    if (err instanceof AppError && err.code === ErrorCode.NOT_FOUND) await guard.limiter.hit(em, bucket, guard.clientAddress);
    throw err;
  }
}
