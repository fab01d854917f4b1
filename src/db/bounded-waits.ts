import pg from 'pg';
import type { DatabaseTimeouts } from '../config.js';

/**
 * `pg` pool options that bound every wait, so a database that is down or hung answers an error
 * (503 upstream, a retried job) instead of holding requests and jobs until someone gives up. Used
 * by the ORM's pool and by the job queue's own:
 * - connectionTimeoutMillis: waiting for a pooled connection, or for a new one to connect;
 * - statement_timeout / idle_in_transaction_session_timeout: the server cancels a statement or
 *   ends a transaction left open;
 * - query_timeout: the client stops waiting 1 s after the server should have cancelled — the case
 *   where the server (or the network to it) does not answer at all. Such a connection must then be
 *   closed (closeOnReadTimeout), because its late answer would otherwise be read as the next query's.
 */
export function boundedWaits(t: DatabaseTimeouts) {
  return {
    connectionTimeoutMillis: t.acquireMs,
    ...(t.statementMs > 0 && {
      statement_timeout: t.statementMs,
      idle_in_transaction_session_timeout: t.statementMs,
      query_timeout: t.statementMs + 1000,
    }),
  };
}

/** Ends a connection whose query the client stopped waiting for (pg keeps it, still busy, otherwise). */
export function closeOnReadTimeout(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (result instanceof Promise) {
      // Ending sets the client's _ending flag at once, so the pool drops it when it comes back.
      result.catch((err: unknown) => {
        if (err instanceof Error && err.message === 'Query read timeout') (client as pg.Client).end().catch(() => undefined);
      });
    }
    return result;
  };
}

/**
 * A pg Client class for pools built by a library (pg-boss's), where no 'connect' hook can be set
 * before its first connection: each client closes itself after a read timeout.
 */
export class ClosingOnReadTimeoutClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    closeOnReadTimeout(this);
  }
}
