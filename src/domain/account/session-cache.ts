import type { EventBus } from '../../events/events.port.js';

/** Where revocations go between processes: every API process forgets the session at once. */
export const SESSION_REVOKED_TOPIC = 'sessions.revoked';

/** A revocation as published: ids only (never a token or its hash). */
export interface SessionRevoked {
  sessionId: string;
}

export interface SessionCacheOptions {
  /**
   * How long a session found live is believed without asking the database again. The bound on a
   * revocation whose notification never reached this process (a listener reconnecting).
   */
  ttlMs: number;
  /** Most sessions remembered; past it the oldest is forgotten first. */
  maxEntries: number;
  now?: () => number;
}

/** 5 s: a revoked session is refused on every process within this even if a notification is lost. */
export const SESSION_CACHE_DEFAULTS: SessionCacheOptions = { ttlMs: 5_000, maxEntries: 10_000 };

interface Entry {
  sessionId: string;
  accountId: string;
  /** Believed until then (ms): the TTL, or the session's own expiry if sooner. */
  until: number;
}

/**
 * Sessions this process recently found live, so a signed-in request need not ask the database
 * every time (the lookup was most of a signed-in trivial request, issue 14). Only live sessions
 * are remembered: an unknown, expired or revoked token always asks the database.
 *
 * Revocation: signOut forgets the session here before it answers (the next request in this
 * process asks the database), and publishes it on the event bus, so every other process forgets
 * it as the notification arrives. A notification can be lost (LISTEN/NOTIFY is at most once, e.g.
 * while a listener reconnects): then the other process refuses the session at the latest when
 * its entry's TTL ends. A lookup that was running while any revocation arrived is not remembered,
 * so an answer read before the revocation committed never outlives it.
 */
export class SessionCache {
  private readonly byToken = new Map<string, Entry>();
  private readonly bySession = new Map<string, string>();
  /** Moves on every revocation; a lookup begun under an older one is not remembered. */
  private generation = 0;
  private disabled = false;
  private readonly now: () => number;

  constructor(private readonly opts: SessionCacheOptions = SESSION_CACHE_DEFAULTS) {
    this.now = opts.now ?? Date.now;
  }

  /** The account of a session believed live, or null (then ask the database). */
  get(tokenHash: string): string | null {
    const entry = this.byToken.get(tokenHash);
    if (!entry) return null;
    if (this.now() >= entry.until) {
      this.drop(tokenHash, entry);
      return null;
    }
    return entry.accountId;
  }

  /** Taken before asking the database; hand it back to remember(). */
  mark(): number {
    return this.generation;
  }

  /** Remembers a session the database just said is live, unless a revocation came since `mark`. */
  remember(tokenHash: string, session: { sessionId: string; accountId: string; expiresAt: Date }, mark: number): void {
    if (mark !== this.generation || this.disabled || this.opts.ttlMs <= 0) return;
    const now = this.now();
    const until = Math.min(now + this.opts.ttlMs, session.expiresAt.getTime());
    if (until <= now) return;
    const old = this.byToken.get(tokenHash);
    if (old) this.drop(tokenHash, old);
    while (this.byToken.size >= this.opts.maxEntries) {
      const [oldestToken, oldest] = this.byToken.entries().next().value as [string, Entry];
      this.drop(oldestToken, oldest);
    }
    this.byToken.set(tokenHash, { sessionId: session.sessionId, accountId: session.accountId, until });
    this.bySession.set(session.sessionId, tokenHash);
  }

  /** Forgets a revoked session (this process's own signOut, or another's notification). */
  forget(sessionId: string): void {
    this.generation++;
    const tokenHash = this.bySession.get(sessionId);
    const entry = tokenHash === undefined ? undefined : this.byToken.get(tokenHash);
    if (entry) this.drop(tokenHash!, entry);
  }

  /** Believes nothing from now on: every request asks the database (revocations can no longer reach us). */
  disable(): void {
    this.disabled = true;
    this.generation++;
    this.byToken.clear();
    this.bySession.clear();
  }

  get size(): number {
    return this.byToken.size;
  }

  private drop(tokenHash: string, entry: Entry): void {
    this.byToken.delete(tokenHash);
    if (this.bySession.get(entry.sessionId) === tokenHash) this.bySession.delete(entry.sessionId);
  }
}

/**
 * A process's session cache, kept in step with the event bus: revocations published by any
 * process (this one included) are forgotten as they arrive. Stops listening when `signal` aborts.
 */
export function sessionCacheOn(events: EventBus, signal: AbortSignal, opts: SessionCacheOptions = SESSION_CACHE_DEFAULTS): SessionRevocations {
  const cache = new SessionCache(opts);
  const listening = (async () => {
    for await (const msg of events.subscribe<SessionRevoked>(SESSION_REVOKED_TOPIC, signal)) {
      if (typeof msg?.sessionId === 'string') cache.forget(msg.sessionId);
    }
    // The bus closed (shutdown): nothing tells us of revocations any more.
    cache.disable();
  })().catch(() => cache.disable());
  return {
    cache,
    revoked(sessionId: string) {
      cache.forget(sessionId);
      events.publish<SessionRevoked>(SESSION_REVOKED_TOPIC, { sessionId });
    },
    listening,
  };
}

/** What the request path holds: the cache, and how to tell every process a session ended. */
export interface SessionRevocations {
  cache: SessionCache;
  /** Forgets the session here at once and tells the other processes. */
  revoked(sessionId: string): void;
  /** Ends when the listener stops (its signal aborted). */
  listening: Promise<void>;
}
