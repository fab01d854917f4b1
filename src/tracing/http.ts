import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_HTTP_ROUTE, ATTR_URL_SCHEME } from '@opentelemetry/semantic-conventions';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { routeOf } from '../metrics/http.js';
import { tracer } from './tracing.js';

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/**
 * A server span per HTTP request, the parent of what the request does (its GraphQL operation, the
 * jobs it enqueues). It is named and labelled by route template (`PATCH /uploads/:id`), never by
 * the path: paths carry upload ids, file tokens and share links. No query string, no headers.
 * A caller's W3C traceparent is continued.
 */
export function httpTracing(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const method = KNOWN_METHODS.has(req.method) ? req.method : '_OTHER';
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer().startSpan(method, { kind: SpanKind.SERVER, attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_SCHEME]: req.protocol } }, parent);
    const active = trace.setSpan(parent, span);
    res.on('finish', () => {
      const route = routeOf(req, res);
      span.updateName(route === 'unmatched' ? method : `${method} ${route}`);
      if (route !== 'unmatched') span.setAttribute(ATTR_HTTP_ROUTE, route);
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    // A client that goes away before the answer: still end the span.
    res.on('close', () => span.isRecording() && (span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode), span.end()));
    // Body parsers and upload streams call back from the socket's events: bound, they keep this span.
    context.bind(active, req);
    context.bind(active, res);
    context.with(active, next);
  };
}
