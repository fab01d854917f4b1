import { type DocumentNode, type ExecutionArgs, type ExecutionResult, getOperationAST, type GraphQLError, parse } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import type { Span } from '@opentelemetry/api';
import { endOperationSpan, startOperationSpan } from '../tracing/graphql.js';
import { tracingOn } from '../tracing/tracing.js';
import { operationLabel } from './graphql-plugin.js';
import { graphqlDuration, graphqlOperations } from './registry.js';

interface Started {
  end: (labels: Record<string, string>) => void;
  span: Span | null;
}

/** Operations between onSubscribe and onOperation, by the execution arguments onSubscribe returned. */
const running = new WeakMap<object, Started>();

/** A graphql-ws operation arrived (onSubscribe): its timer and, with tracing on, its span start. */
export function socketOperationStarted(): Started {
  return { end: graphqlDuration.startTimer({ transport: 'websocket' }), span: tracingOn() ? startOperationSpan({ transport: 'websocket' }) : null };
}

function finish(started: Started, labels: { operation: string; type: string; outcome: string }, errors?: readonly GraphQLError[]): void {
  started.end(labels);
  graphqlOperations.inc({ ...labels, transport: 'websocket' });
  if (started.span) endOperationSpan(started.span, { ...labels, errors });
}

export interface SocketOperationInput {
  started: Started;
  payload: SubscribePayload;
}

/** It passed the limits and validation: counted when it has run (socketOperationRan). */
export function socketOperationAccepted({ started, args }: { started: Started; args: ExecutionArgs }): void {
  running.set(args, started);
}

/** Validation refused it (as Apollo's "invalid"); documents the precheck refused are counted as rejected, not here. */
export function socketOperationInvalid({ started, payload, errors }: SocketOperationInput & { errors: readonly GraphQLError[] }): void {
  let document: DocumentNode | undefined;
  try {
    document = parse(payload.query);
  } catch {
    // unparsable: the precheck's, never here
  }
  const op = document ? getOperationAST(document, payload.operationName) : null;
  finish(started, { operation: operationLabel(payload.operationName ?? op?.name?.value, { admit: false }), type: op?.operation ?? 'unknown', outcome: 'invalid' }, errors);
}

/**
 * graphql-ws onOperation: a query or mutation has its result; a subscription is running (success)
 * or was refused when it started (error: its source stream answered errors, e.g. NOT_FOUND).
 * Events a subscription delivers later are counted by sharedSubscribe.
 */
export function socketOperationRan({ args, result }: { args: ExecutionArgs; result: unknown }): void {
  const started = running.get(args);
  if (!started) return;
  running.delete(args);
  const op = getOperationAST(args.document, args.operationName);
  const errors = result && typeof result === 'object' && !(Symbol.asyncIterator in result) ? (result as ExecutionResult).errors : undefined;
  finish(started, { operation: operationLabel(args.operationName ?? op?.name?.value, { admit: true }), type: op?.operation ?? 'unknown', outcome: errors?.length ? 'error' : 'success' }, errors);
}
