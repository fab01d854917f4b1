import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { AppError, ErrorCode } from '../domain/errors.js';
import { RateLimitedError } from '../domain/rate-limit/rate-limiter.js';
import { asUnavailable } from '../domain/unavailable.js';
import type { Logger } from '../logger.js';
import { closeReason } from './websocket-protocol.js';

/**
 * Codes raised before execution starts — by GraphQL or Apollo for malformed requests, or by our
 * context function for a bad session token: their messages are safe to show.
 */
const REQUEST_ERROR_CODES = new Set<string>([
  ErrorCode.UNAUTHENTICATED,
  ErrorCode.RATE_LIMITED,
  ErrorCode.SERVICE_UNAVAILABLE,
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_USER_INPUT',
  'BAD_REQUEST',
  'OPERATION_RESOLUTION_FAILURE',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
]);

/**
 * Maps every error to the catalogue: domain errors keep their code, message and field; request
 * errors keep their code and message; a database or storage outage becomes SERVICE_UNAVAILABLE
 * with `retryAfter` (asUnavailable decides); anything else is logged and becomes a bare
 * INTERNAL_SERVER_ERROR, so no SQL, path or stack ever reaches a client.
 */
export function formatError(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const unwrapped = unwrapResolverError(error);
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };
    const unavailable = asUnavailable(unwrapped instanceof GraphQLError && unwrapped.originalError ? unwrapped.originalError : unwrapped);
    if (unavailable && unavailable !== unwrapped) log.warn({ err: unwrapped, backend: unavailable.backend }, 'GraphQL operation met an outage');
    const original = unavailable ?? unwrapped;
    if (original instanceof AppError) {
      return {
        ...base,
        message: original.message,
        extensions: {
          code: original.code,
          ...(original.field && { field: original.field }),
          ...((original instanceof RateLimitedError || original === unavailable) && { retryAfter: (original as RateLimitedError).retryAfterSeconds }),
        },
      };
    }
    // Errors raised before execution (parse, validation, variable coercion) carry no path and
    // describe the request itself; anything thrown while resolving a field is ours to hide.
    const code = formatted.extensions?.code;
    // A query limit (src/graphql/limits) also says which limit it was and its value.
    if (code === ErrorCode.QUERY_TOO_COMPLEX && !formatted.path) {
      return { ...base, extensions: { code, limit: formatted.extensions?.limit, max: formatted.extensions?.max } };
    }
    if (typeof code === 'string' && REQUEST_ERROR_CODES.has(code) && !formatted.path) {
      // Apollo prefixes context failures; the client needs only our sentence.
      const retryAfter = formatted.extensions?.retryAfter;
      return { ...base, message: base.message.replace(/^Context creation failed: /, ''), extensions: { code, ...(typeof retryAfter === 'number' && { retryAfter }) } };
    }
    log.error({ err: original }, 'unexpected error in GraphQL operation');
    return { ...base, message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}

/** The innermost error a GraphQLError wraps (graphql-ws wraps a stream's failure once more). */
function rootCause(error: GraphQLError): Error | undefined {
  let cause = error.originalError;
  while (cause instanceof GraphQLError && cause.originalError) cause = cause.originalError;
  return cause;
}

/**
 * The catalogue for errors graphql-ws hands over as GraphQLError objects rather than as Apollo
 * would: validation errors straight from `validate()` carry no code, and a source stream that
 * throws mid-stream is re-wrapped with no path, so formatError alone would let its message (SQL,
 * say) through whenever the thrown error had a request code. `requestCode` is the code for an
 * error about the request itself (no path, wrapping nothing): GRAPHQL_VALIDATION_FAILED before
 * execution, BAD_USER_INPUT for variables that execution could not coerce.
 */
export function formatSocketError(log: Logger) {
  const format = formatError(log);
  return (error: GraphQLError, requestCode: string): GraphQLFormattedError => {
    const formatted = error.toJSON();
    const cause = rootCause(error);
    if (cause instanceof AppError) return format(formatted, cause);
    // A resolver's error: located by graphql-js, handled exactly as over HTTP.
    if (error.path) return format(formatted, error);
    if (!cause) return format({ ...formatted, extensions: { ...formatted.extensions, code: formatted.extensions?.code ?? requestCode } }, error);
    // A source stream that threw: ours to hide, whatever code it carried.
    return format({ message: formatted.message, locations: formatted.locations }, cause);
  };
}

/**
 * What a failed websocket context may say. graphql-ws closes the socket with the thrown message as
 * the close reason (outside production), so only catalogue errors keep theirs — the context turns
 * a bad session token into a GraphQLError with UNAUTHENTICATED — and anything else is logged here
 * and replaced.
 */
/** Whether an error is one of the catalogue's (so its message may reach the client), not an internal one. */
const isCatalogued = (err: unknown): boolean => {
  const code = err instanceof AppError ? err.code : err instanceof GraphQLError ? err.extensions.code : undefined;
  return typeof code === 'string' && code !== ErrorCode.INTERNAL_SERVER_ERROR && (Object.values(ErrorCode) as string[]).includes(code);
};

/** The close reason of a socket whose operation failed inside: it says nothing of the failure. */
export const INTERNAL_CLOSE_REASON = 'Internal server error';

/**
 * The close reason of a socket whose operation failed: a catalogue error's message (an operation's
 * context refused: "sign in again"), anything else "Internal server error". A close reason holds
 * at most 123 bytes.
 */
export function socketCloseReason(err: unknown): string {
  return isCatalogued(err) ? closeReason((err as Error).message, INTERNAL_CLOSE_REASON) : INTERNAL_CLOSE_REASON;
}

export function contextFailure(log: Logger, err: unknown): Error {
  const unavailable = asUnavailable(err);
  if (unavailable) {
    log.warn({ err, backend: unavailable.backend }, 'websocket operation met an outage');
    return unavailable;
  }
  if (isCatalogued(err)) return err as Error;
  log.error({ err }, 'could not build the context of a websocket operation');
  return new Error(INTERNAL_CLOSE_REASON);
}
