import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { httpDuration, httpRequests, registry, uploadBytes } from './registry.js';

/** METRICS and METRICS_TOKEN (config.ts). */
export interface MetricsSettings {
  /** false (METRICS=off): no /metrics on any port; the counters still count, nobody reads them. */
  enabled: boolean;
  /** When set, /metrics wants `Authorization: Bearer <token>`. */
  token: string | null;
}

interface MetricsAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares digests, so neither the token's length nor its bytes leak through timing. */
function allowed(settings: MetricsSettings, authorization: string | undefined): boolean {
  if (settings.token === null) return true;
  const given = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  return given !== undefined && timingSafeEqual(digest(given), digest(settings.token));
}

async function answer(settings: MetricsSettings, authorization: string | undefined): Promise<MetricsAnswer> {
  const json = { 'content-type': 'application/json', 'cache-control': 'no-store' };
  if (!allowed(settings, authorization)) {
    return { status: 401, headers: { ...json, 'www-authenticate': 'Bearer realm="metrics"' }, body: JSON.stringify({ errors: [{ message: 'A metrics token is required', extensions: { code: 'UNAUTHENTICATED' } }] }) };
  }
  return { status: 200, headers: { 'content-type': registry.contentType, 'cache-control': 'no-store' }, body: await registry.metrics() };
}

export interface MetricsRouteInput {
  settings: MetricsSettings;
}

/** GET /metrics on the API's Express app; with METRICS=off the route does not exist (404). */
export function metricsRoute({ settings }: MetricsRouteInput): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (!settings.enabled || (req.method !== 'GET' && req.method !== 'HEAD') || req.path !== '/metrics') return next();
    res.locals.metricsRoute = '/metrics';
    // Written as is: Express would rewrite prom-client's content type.
    answer(settings, req.get('authorization')).then((a) => void res.writeHead(a.status, a.headers).end(a.body), next);
  };
}

export interface ServeMetricsInput {
  settings: MetricsSettings;
  req: IncomingMessage;
  res: ServerResponse;
}

/** /metrics on a plain node:http server (the worker's health port). */
export async function serveMetrics({ settings, req, res }: ServeMetricsInput): Promise<void> {
  const a = await answer(settings, req.headers.authorization);
  res.writeHead(a.status, a.headers).end(a.body);
}

/**
 * Counts every answered request by route template (`/uploads/:id`, never the path with its id),
 * method and status. Requests no route took are "unmatched", whatever their path.
 */
export function httpMetrics(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const end = httpDuration.startTimer();
    res.on('finish', () => {
      const route = routeOf(req, res);
      const method = KNOWN_METHODS.has(req.method) ? req.method : 'OTHER';
      end({ method, route });
      httpRequests.inc({ method, route, status: String(res.statusCode) });
    });
    next();
  };
}

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Mounts that answer under a fixed prefix without a route of their own (Apollo under /graphql). */
export function routeLabel(route: string): RequestHandler {
  return (_req, res, next) => {
    res.locals.metricsRoute = route;
    next();
  };
}

/** The route template a request took (`/uploads/:id`), or "unmatched". */
export function routeOf(req: Request, res: Response): string {
  const path: unknown = req.route?.path;
  if (typeof path === 'string') return `${req.baseUrl}${path}`;
  return typeof res.locals.metricsRoute === 'string' ? res.locals.metricsRoute : 'unmatched';
}

/** Bytes an upload request stored (the offset it reached less the one it started from). */
export function recordUploadBytes({ bytes }: { bytes: number }): void {
  if (bytes > 0) uploadBytes.inc(bytes);
}
