import type { ApolloServerPlugin } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { ServiceUnavailableError } from '../domain/errors.js';
import { asUnavailable } from '../domain/unavailable.js';

/**
 * SERVICE_UNAVAILABLE over HTTP: status 503 and Retry-After, as RATE_LIMITED gets 429 (see
 * rate-limited.ts): Apollo takes status and headers from `extensions.http` of the errors before
 * formatting them, so outages get theirs here; formatError then gives the body its code.
 */
const http = (err: ServiceUnavailableError) => ({ status: 503, headers: new Map([['retry-after', String(err.retryAfterSeconds)]]) });

/** For an outage while building the context (the session lookup): Apollo would answer 500. */
export function unavailableGraphQLError(err: ServiceUnavailableError): GraphQLError {
  return new GraphQLError(err.message, { originalError: err, extensions: { code: err.code, retryAfter: err.retryAfterSeconds, http: http(err) } });
}

/** For outages met inside resolvers: graphql-js wrapped the driver's or storage's error. */
export const unavailablePlugin: ApolloServerPlugin = {
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors }) {
        for (const error of errors) {
          const unavailable = asUnavailable(error.originalError);
          if (unavailable) (error.extensions as Record<string, unknown>).http = http(unavailable);
        }
      },
    };
  },
};
