import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import { ErrorCode } from '../domain/errors.js';
import { RateLimitedError } from '../domain/rate-limit/rate-limiter.js';

/**
 * RATE_LIMITED over HTTP: status 429 and a Retry-After header (seconds), besides the code and
 * `extensions.retryAfter` in the body. Apollo takes status and headers from `extensions.http` of
 * the errors before formatting them, so the domain's RateLimitedError gets them here.
 */
const http = (err: RateLimitedError) => ({ status: 429, headers: new Map([['retry-after', String(err.retryAfterSeconds)]]) });

/** For a refusal while building the context (before any resolver runs). */
export function rateLimitedGraphQLError(err: RateLimitedError): GraphQLError {
  return new GraphQLError(err.message, {
    originalError: err,
    extensions: { code: ErrorCode.RATE_LIMITED, retryAfter: err.retryAfterSeconds, http: http(err) },
  });
}

/** For refusals inside resolvers: graphql-js wrapped them, Apollo has not read their extensions yet. */
export const rateLimitPlugin: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors }) {
        for (const error of errors) {
          const cause = error.originalError;
          if (cause instanceof RateLimitedError) (error.extensions as Record<string, unknown>).http = http(cause);
        }
      },
    };
  },
};
