import { createHmac } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { RateLimitCounter } from '../../db/entities/index.js';
import { AppError, ErrorCode } from '../errors.js';

/**
 * What is counted, and per what. Token buckets count failed lookups only; signIn buckets count
 * attempts (a correct password gives its hit back); signUp and contribution buckets count every
 * request.
 */
export type Bucket =
  | 'signin-account'
  | 'signin-client'
  | 'signup-client'
  | 'share-token'
  | 'contribution-token'
  | 'guest-token'
  | 'upload-secret'
  | 'contribution-client'
  | 'contribution-link';

export interface RateRule {
  /** Hits allowed in one window; with `backoff`, the hits allowed before delays begin. */
  limit: number;
  /** Counting starts again this long after the first hit of a window. */
  windowMs: number;
  /**
   * Past `limit`, one more hit is allowed 2^(hits − limit) seconds after the latest one instead of
   * none until the window ends. Delays never reach past the window's end, so nobody is held off
   * for longer than `windowMs`.
   */
  backoff?: boolean;
}

export type RateRules = Record<Bucket, RateRule>;

/** Refused because of a rate limit. `retryAfterSeconds` is when trying again can succeed. */
export class RateLimitedError extends AppError {
  constructor(readonly retryAfterSeconds: number) {
    super(ErrorCode.RATE_LIMITED, `Too many attempts; try again in ${retryAfterSeconds} seconds`);
    this.name = 'RateLimitedError';
  }
}

interface CounterRow {
  hits: number;
  windowEndsAt: Date;
  lastHitAt: Date;
}

/**
 * Counts attempts in the database (table rate_limit), so limits hold across API processes and
 * restarts. Each counter is keyed by an HMAC of "<bucket>:<subject>" under SECRET_KEY: neither
 * addresses nor emails are stored, and a counter cannot be linked to a person without the key.
 * Every operation is one statement; `take` is a conditional upsert, so concurrent requests
 * cannot overrun a limit.
 */
export class RateLimiter {
  constructor(
    private readonly secretKey: string,
    readonly rules: RateRules,
    /** Milliseconds since the epoch; tests move it instead of sleeping. */
    readonly now: () => number = Date.now,
  ) {}

  key(bucket: Bucket, subject: string): string {
    return createHmac('sha256', this.secretKey).update(`${bucket}:${subject}`).digest('hex');
  }

  /** Throws RateLimitedError when the next hit would be refused; counts nothing. */
  async check(em: EntityManager, bucket: Bucket, subject: string): Promise<void> {
    const row = await em.findOne(RateLimitCounter, { key: this.key(bucket, subject) }, { disableIdentityMap: true });
    const wait = this.waitMs(bucket, row, this.now());
    if (wait > 0) throw new RateLimitedError(Math.ceil(wait / 1000));
  }

  /**
   * Counts one hit, or throws RateLimitedError (counting nothing) when the limit is reached. Atomic:
   * the row is locked while the condition is checked, so parallel requests are counted one by one.
   */
  async take(em: EntityManager, bucket: Bucket, subject: string): Promise<void> {
    const rule = this.rules[bucket];
    const key = this.key(bucket, subject);
    const now = new Date(this.now());
    const rows = await em.execute<{ hits: number }[]>(
      `insert into rate_limit as r (key, hits, window_ends_at, last_hit_at) values (?, 1, ?, ?)
       on conflict (key) do update set
         hits = case when r.window_ends_at <= excluded.last_hit_at then 1 else r.hits + 1 end,
         window_ends_at = case when r.window_ends_at <= excluded.last_hit_at then excluded.window_ends_at else r.window_ends_at end,
         last_hit_at = excluded.last_hit_at
       where r.window_ends_at <= excluded.last_hit_at
          or r.hits < ?
          or (? and excluded.last_hit_at >= r.last_hit_at + make_interval(secs => power(2, least(r.hits - ?, 30))))
       returning hits`,
      [key, new Date(now.getTime() + rule.windowMs), now, rule.limit, rule.backoff === true, rule.limit],
    );
    if (rows.length > 0) return;
    // Refused: read the counter once more only to say when to come back.
    const row = await em.findOne(RateLimitCounter, { key }, { disableIdentityMap: true });
    throw new RateLimitedError(Math.max(1, Math.ceil(this.waitMs(bucket, row, now.getTime()) / 1000)));
  }

  /** Counts one failure whatever the state (the caller checked first); the window keeps its end. */
  async hit(em: EntityManager, bucket: Bucket, subject: string): Promise<void> {
    const now = new Date(this.now());
    await em.execute(
      `insert into rate_limit as r (key, hits, window_ends_at, last_hit_at) values (?, 1, ?, ?)
       on conflict (key) do update set
         hits = case when r.window_ends_at <= excluded.last_hit_at then 1 else r.hits + 1 end,
         window_ends_at = case when r.window_ends_at <= excluded.last_hit_at then excluded.window_ends_at else r.window_ends_at end,
         last_hit_at = excluded.last_hit_at`,
      [this.key(bucket, subject), new Date(now.getTime() + this.rules[bucket].windowMs), now],
    );
  }

  /** Gives back one hit of `take` (the attempt turned out to be legitimate). */
  async refund(em: EntityManager, bucket: Bucket, subject: string): Promise<void> {
    await em.execute(`update rate_limit set hits = greatest(hits - 1, 0) where key = ?`, [this.key(bucket, subject)]);
  }

  /** Forgets the counter (a correct password ends an account's delays). */
  async reset(em: EntityManager, bucket: Bucket, subject: string): Promise<void> {
    await em.execute(`delete from rate_limit where key = ?`, [this.key(bucket, subject)]);
  }

  /** How long until a hit would be allowed (0: now). The same rule as take's SQL condition. */
  private waitMs(bucket: Bucket, row: CounterRow | null, now: number): number {
    const rule = this.rules[bucket];
    const windowEnd = row?.windowEndsAt.getTime() ?? 0;
    if (!row || windowEnd <= now || row.hits < rule.limit) return 0;
    if (!rule.backoff) return windowEnd - now;
    const next = Math.min(row.lastHitAt.getTime() + 2 ** Math.min(row.hits - rule.limit, 30) * 1000, windowEnd);
    return Math.max(0, next - now);
  }
}

/** Removes counters whose window ended (run by the storage sweep). */
export async function pruneRateLimits(em: EntityManager, now = new Date()): Promise<number> {
  return em.nativeDelete(RateLimitCounter, { windowEndsAt: { $lte: now } });
}
