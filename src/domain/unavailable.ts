import { StorageUnavailableError } from '../storage/storage.port.js';
import { NETWORK_ERROR_CODES } from '../storage/unavailable.js';
import { ServiceUnavailableError } from './errors.js';

/**
 * Seconds a client is told to wait (Retry-After) when the database or storage is unavailable:
 * long enough not to hammer a backend that is coming back, short enough that a restart of one is
 * not noticed as more than a pause.
 */
export const OUTAGE_RETRY_AFTER_SECONDS = 5;

/**
 * SQLSTATEs of a database that cannot serve now rather than of a wrong request: connection
 * exceptions (class 08), too many connections, a server shutting down or starting, and a statement
 * cancelled by statement_timeout (57014) or a session killed by idle_in_transaction_session_timeout.
 */
const UNAVAILABLE_SQLSTATES = new Set(['53300', '57014', '57P01', '57P02', '57P03', '25P03', '08000', '08001', '08003', '08004', '08006', '08P01']);

/**
 * Messages of `pg` and `pg-pool` that carry no code: a dropped connection, the acquire timeout
 * (connectionTimeoutMillis), the client-side query timeout (query_timeout), a client that broke.
 */
const UNAVAILABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Connection ended|connection timeout/i;

/**
 * The one place that tells an outage from a bug: a database that is down or did not answer in time
 * (raw `pg` errors, or MikroORM's DriverException, which copies their code and message), and
 * storage that is unreachable (StorageUnavailableError from a backend, or a bare socket error).
 * Returns the error to show (SERVICE_UNAVAILABLE with Retry-After), or null for anything else.
 */
export function asUnavailable(err: unknown): ServiceUnavailableError | null {
  if (err instanceof ServiceUnavailableError) return err;
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof StorageUnavailableError) return new ServiceUnavailableError('storage', OUTAGE_RETRY_AFTER_SECONDS, { cause: err });
    const code = (e as { code?: unknown }).code;
    const sqlState = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
    if ((sqlState && UNAVAILABLE_SQLSTATES.has(sqlState)) || UNAVAILABLE_MESSAGES.test(e.message)) {
      return new ServiceUnavailableError('database', OUTAGE_RETRY_AFTER_SECONDS, { cause: err });
    }
    // A socket error that reached us unwrapped: the database driver (ECONNREFUSED on connect).
    if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) return new ServiceUnavailableError('database', OUTAGE_RETRY_AFTER_SECONDS, { cause: err });
  }
  return null;
}
