import { RateLimitedError } from '../domain/rate-limit/rate-limiter.js';
import { type ContextDeps, limiterFor } from './context.js';
import type { SocketContext } from './websocket-protocol.js';
import type { SocketExtra } from './websocket-transport.js';

/** graphql-ws close code for a connection refused by a rate limit (like HTTP 429). */
export const RATE_LIMITED_CLOSE_CODE = 4429;

/**
 * A connection whose connectionParams carry a share token from a client past its limit of failed
 * token lookups is closed at once with 4429 and "RATE_LIMITED: try again in N seconds" as the
 * reason (a close frame has no room for extensions). Later operations are checked again as they
 * build their context. Returns whether the connection was refused.
 */
export async function refuseIfRateLimited(deps: ContextDeps, ctx: SocketContext<SocketExtra>): Promise<boolean> {
  if (typeof ctx.connectionParams?.shareToken !== 'string') return false;
  try {
    await limiterFor(deps).check(deps.orm.em.fork(), 'share-token', ctx.extra.clientAddress ?? 'unknown');
    return false;
  } catch (err) {
    if (!(err instanceof RateLimitedError)) throw err;
    ctx.extra.socket.close(RATE_LIMITED_CLOSE_CODE, `RATE_LIMITED: try again in ${err.retryAfterSeconds} seconds`);
    return true;
  }
}
