import { Entity, Index, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * One counter of the rate limiter (src/domain/rate-limit): how often something was tried in the
 * current window. Written only by the limiter's atomic upserts; the sweep removes rows whose window
 * ended. Holds no address, email or token: only a keyed hash of "<bucket>:<subject>".
 */
@Entity({ tableName: 'rate_limit' })
@Index({ name: 'rate_limit_window_idx', properties: ['windowEndsAt'] })
export class RateLimitCounter {
  /** HMAC-SHA-256 (SECRET_KEY) of "<bucket>:<subject>", hex. */
  @PrimaryKey({ type: 'char', length: 64 })
  key!: string;

  /** Hits counted since the window began. */
  @Property({ type: 'integer' })
  hits!: number;

  /** When counting starts again from zero. */
  @Property({ type: 'timestamptz' })
  windowEndsAt!: Date;

  /** The latest counted hit (growing delays run from it). */
  @Property({ type: 'timestamptz' })
  lastHitAt!: Date;
}
