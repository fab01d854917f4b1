import { type DocumentNode, type ExecutionArgs, type GraphQLError, type GraphQLSchema, NoSchemaIntrospectionCustomRule, specifiedRules, validate } from 'graphql';
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
  const passed = new PassedDocuments();
  return (payload: SubscribePayload): ExecutionArgs | GraphQLError[] => {
    const variables = payload.variables && typeof payload.variables === 'object' ? payload.variables : null;
    // A fresh object every time: graphql-ws writes the context and root value into it.
    const args = (document: DocumentNode): ExecutionArgs => ({ schema, document, operationName: payload.operationName, variableValues: variables });
    const key = PassedDocuments.key(payload.query, variables);
    const known = key === null ? undefined : passed.get(key);
    if (known) return args(known);
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
    if (key !== null) passed.set(key, checked.document);
    return args(checked.document);
  };
}

/**
 * Documents that passed the precheck and validation, by their text and variables (the precheck's
 * cost depends on both; schema and rules are the server's): ten thousand visitors of a memorial
 * subscribing with the same document share one parsed tree and one validation instead of holding
 * a tree (its tokens and locations) each. Only small documents, and only the most recent few
 * dozen; what is refused is never kept, so it is refused and counted again every time.
 */
class PassedDocuments {
  static readonly MAX_ENTRIES = 64;
  static readonly MAX_QUERY_CHARS = 4096;
  private readonly byKey = new Map<string, DocumentNode>();

  static key(query: string, variables: Record<string, unknown> | null): string | null {
    if (typeof query !== 'string' || query.length > PassedDocuments.MAX_QUERY_CHARS) return null;
    let vars: string;
    try {
      vars = JSON.stringify(variables ?? {});
    } catch {
      return null;
    }
    return vars.length > PassedDocuments.MAX_QUERY_CHARS ? null : `${vars}\n${query}`;
  }

  get(key: string): DocumentNode | undefined {
    const document = this.byKey.get(key);
    if (document) {
      // Most recently used last: the oldest entry is the first to go.
      this.byKey.delete(key);
      this.byKey.set(key, document);
    }
    return document;
  }

  set(key: string, document: DocumentNode): void {
    this.byKey.set(key, document);
    if (this.byKey.size > PassedDocuments.MAX_ENTRIES) this.byKey.delete(this.byKey.keys().next().value!);
  }
}
