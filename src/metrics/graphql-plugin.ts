import type { ApolloServerPlugin } from '@apollo/server';
import type { DocumentNode, GraphQLError } from 'graphql';
import { endOperationSpan, startOperationSpan } from '../tracing/graphql.js';
import { tracingOn } from '../tracing/tracing.js';
import { graphqlDuration, graphqlOperations, graphqlRejected, subscriptionEvents, subscriptionsOpen } from './registry.js';

/** Distinct operation names one process labels; later ones are "other", so a client cannot grow the series without bound. */
export const MAX_OPERATION_NAMES = 100;
/** GraphQL names are [_A-Za-z][_0-9A-Za-z]*; longer than this is not a name a client app uses. */
const NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;
const seen = new Set<string>();

/**
 * The label for an operation name: "anonymous" without one, "unknown" when it is not a GraphQL
 * name, "other" past the cap. Only an operation that passed validation and ran (`admit`) takes
 * one of the capped places: a stream of garbage or invalid documents cannot use them up.
 */
export function operationLabel(name: string | null | undefined, { admit }: { admit: boolean }): string {
  if (name === null || name === undefined || name === '') return 'anonymous';
  if (!NAME.test(name)) return 'unknown';
  if (seen.has(name)) return name;
  if (!admit || seen.size >= MAX_OPERATION_NAMES) return 'other';
  seen.add(name);
  return name;
}

const TYPES = new Set(['query', 'mutation', 'subscription']);

/**
 * Apollo plugin: every operation over HTTP (transport "http"; websockets: websocket-operations.ts) by name (operationLabel), type and outcome, with its
 * duration. "invalid": Apollo refused it before execution (parse or validation); "error": it ran
 * and answered errors (a partial answer included); "success": no errors. Documents the query
 * limits refuse never reach Apollo: they are counted by recordRejectedDocument.
 */
export function graphqlMetricsPlugin(): ApolloServerPlugin {
  return {
    async requestDidStart() {
      const end = graphqlDuration.startTimer();
      // Tracing on: the operation's span, a child of the HTTP request's (tracing/graphql.ts).
      const span = tracingOn() ? startOperationSpan({ transport: 'http' }) : null;
      let executed = false;
      return {
        async executionDidStart() {
          executed = true;
        },
        // A compiled read (graphql/compiled/) answers instead of the executor: it ran all the same.
        // Called in plugin order before that one, and only for an operation about to run.
        async responseForOperation() {
          executed = true;
          return null;
        },
        async willSendResponse({ operation, operationName, request, document, response }) {
          const body = response.body;
          const errors = body.kind === 'single' ? body.singleResult.errors : body.initialResult.errors;
          const outcome = !executed ? 'invalid' : errors?.length ? 'error' : 'success';
          const type = operation && TYPES.has(operation.operation) ? operation.operation : 'unknown';
          // The resolved name when Apollo got that far; else the requested one, or the document's only one.
          const labels = { operation: operationLabel(operationName ?? request.operationName ?? soleOperationName(document), { admit: executed }), type, outcome };
          end({ ...labels, transport: 'http' });
          graphqlOperations.inc({ ...labels, transport: 'http' });
          if (span) endOperationSpan(span, { ...labels, errors });
        },
      };
    },
  };
}

/** A document that failed validation still names its operation when it has just one. */
function soleOperationName(document: DocumentNode | undefined): string | undefined {
  const operations = document?.definitions.filter((d) => d.kind === 'OperationDefinition') ?? [];
  return operations.length === 1 && operations[0]!.kind === 'OperationDefinition' ? operations[0]!.name?.value : undefined;
}

/** Codes the query limits refuse with (precheck.ts, limits/http.ts); anything else is "other". */
const REJECT_CODES = new Set(['QUERY_TOO_COMPLEX', 'GRAPHQL_PARSE_FAILED', 'GRAPHQL_VALIDATION_FAILED', 'BAD_USER_INPUT', 'BAD_REQUEST']);
const LIMITS = new Set(['length', 'tokens', 'depth', 'aliases', 'directives', 'cost', 'repeatedFields']);

export interface RejectedDocumentInput {
  transport: 'http' | 'websocket';
  /** The refusal; absent for a refused batch. */
  error?: GraphQLError;
}

/** A document refused before validation, by transport, code and (for QUERY_TOO_COMPLEX) which limit. */
export function recordRejectedDocument({ transport, error }: RejectedDocumentInput): void {
  const code = error ? String(error.extensions?.code ?? '') : 'BAD_REQUEST';
  const limit = String(error?.extensions?.limit ?? '');
  graphqlRejected.inc({ transport, code: REJECT_CODES.has(code) ? code : 'other', limit: LIMITS.has(limit) ? limit : 'none' });
}

/** A subscription that started running; `closed` is safe to call more than once. */
export interface TrackedSubscription {
  delivered(): void;
  closed(): void;
}

export function subscriptionOpened(): TrackedSubscription {
  subscriptionsOpen.inc();
  return new OpenSubscription();
}

/** A class, not closures: every idle subscriber holds one. */
class OpenSubscription implements TrackedSubscription {
  private open = true;
  delivered(): void {
    subscriptionEvents.inc();
  }
  closed(): void {
    if (!this.open) return;
    this.open = false;
    subscriptionsOpen.dec();
  }
}
