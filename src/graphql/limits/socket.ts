import { type ExecutionArgs, type GraphQLError, type GraphQLSchema, NoSchemaIntrospectionCustomRule, specifiedRules, validate } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { recordRejectedDocument } from '../../metrics/graphql-plugin.js';
import { precheck } from './precheck.js';
import type { GraphQLSettings } from './query-limits.js';
import { queryLimitStats } from './stats.js';
import { withoutSuggestions } from './suggestions.js';

/** The answers that are the precheck's refusals (counted as rejected documents, not as operations). */
const refusals = new WeakSet<object>();
export const isPrecheckRefusal = (errors: readonly GraphQLError[]): boolean => refusals.has(errors);

export interface SocketLimitsInput {
  schema: GraphQLSchema;
  settings: GraphQLSettings;
  maxPageSize: number;
}

/**
 * graphql-ws `onSubscribe`: graphql-ws parses and validates on its own when this hook returns
 * nothing, so it returns the execution arguments itself after the same precheck as HTTP and a
 * full validation with the same rules as Apollo's (introspection refused when it is off, no
 * suggestions unless they are on). Errors go back as the operation's error message.
 */
export function socketOnSubscribe({ schema, settings, maxPageSize }: SocketLimitsInput) {
  const rules = settings.introspection ? specifiedRules : [...specifiedRules, NoSchemaIntrospectionCustomRule];
  return (payload: SubscribePayload): ExecutionArgs | GraphQLError[] => {
    const variables = payload.variables && typeof payload.variables === 'object' ? payload.variables : null;
    const checked = precheck({ schema, limits: settings.limits, maxPageSize, query: payload.query, variables });
    if (!checked.ok) {
      recordRejectedDocument({ transport: 'websocket', error: checked.error });
      const refused = [checked.error];
      refusals.add(refused);
      return refused;
    }
    queryLimitStats.validated++;
    const errors = validate(schema, checked.document, rules);
    if (errors.length) return settings.suggestions ? [...errors] : withoutSuggestions(errors);
    return { schema, document: checked.document, operationName: payload.operationName, variableValues: variables };
  };
}
