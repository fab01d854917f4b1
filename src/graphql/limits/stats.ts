import type { ApolloServerPlugin } from '@apollo/server';

/**
 * Counts for tests and metrics: documents the precheck refused or let through, and full
 * validations run (by Apollo over HTTP, by us over websockets). A refused document must never
 * add to `validated`.
 */
export const queryLimitStats = { refused: 0, passed: 0, validated: 0 };

/** Counts Apollo's validations into queryLimitStats. */
export function countValidations(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      return {
        async validationDidStart() {
          queryLimitStats.validated++;
        },
      };
    },
  };
}
