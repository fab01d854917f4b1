import { context, type Span, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { GraphQLError } from 'graphql';
import { tracer } from './tracing.js';

export interface OperationSpanEnd {
  /** operationLabel's value: a GraphQL name (capped), "anonymous", "unknown" or "other". */
  operation: string;
  type: string;
  /** success, error, invalid (as the metrics). */
  outcome: string;
  errors?: readonly { extensions?: GraphQLError['extensions'] | Record<string, unknown> }[];
}

/**
 * A span per GraphQL operation, a child of the active context (the HTTP request's span; none over
 * websockets). It holds the operation's name, type and outcome and the catalogue's error codes:
 * never the document, variables, results or error messages, which carry what people typed.
 */
export function startOperationSpan({ transport }: { transport: 'http' | 'websocket' }): Span {
  return tracer().startSpan('graphql', { kind: transport === 'websocket' ? SpanKind.SERVER : SpanKind.INTERNAL, attributes: { 'memory_chest.graphql.transport': transport } }, context.active());
}

export function endOperationSpan(span: Span, { operation, type, outcome, errors }: OperationSpanEnd): void {
  span.updateName(`${type} ${operation}`);
  span.setAttributes({ 'graphql.operation.name': operation, 'graphql.operation.type': type, 'memory_chest.outcome': outcome });
  const codes = [...new Set((errors ?? []).map((e) => String(e.extensions?.code ?? 'INTERNAL_SERVER_ERROR')))].filter((c) => /^[A-Z_]{1,40}$/.test(c));
  if (codes.length) span.setAttribute('memory_chest.graphql.error_codes', codes);
  if (outcome !== 'success') span.setStatus({ code: SpanStatusCode.ERROR });
  span.end();
}
