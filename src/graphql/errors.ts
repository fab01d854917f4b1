import { unwrapResolverError } from '@apollo/server/errors';
import type { GraphQLFormattedError } from 'graphql';
import { AppError, ErrorCode } from '../domain/errors.js';
import type { Logger } from '../logger.js';

/**
 * Codes raised before execution starts — by GraphQL or Apollo for malformed requests, or by our
 * context function for a bad session token: their messages are safe to show.
 */
const REQUEST_ERROR_CODES = new Set<string>([
  ErrorCode.UNAUTHENTICATED,
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
 * errors keep their code and message; anything else is logged and becomes a bare
 * INTERNAL_SERVER_ERROR, so no SQL, path or stack ever reaches a client.
 */
export function formatError(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const original = unwrapResolverError(error);
    const base = { message: formatted.message, locations: formatted.locations, path: formatted.path };
    if (original instanceof AppError) {
      return {
        ...base,
        message: original.message,
        extensions: { code: original.code, ...(original.field && { field: original.field }) },
      };
    }
    // Errors raised before execution (parse, validation, variable coercion) carry no path and
    // describe the request itself; anything thrown while resolving a field is ours to hide.
    const code = formatted.extensions?.code;
    if (typeof code === 'string' && REQUEST_ERROR_CODES.has(code) && !formatted.path) {
      // Apollo prefixes context failures; the client needs only our sentence.
      return { ...base, message: base.message.replace(/^Context creation failed: /, ''), extensions: { code } };
    }
    log.error({ err: original }, 'unexpected error in GraphQL operation');
    return { ...base, message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } };
  };
}
