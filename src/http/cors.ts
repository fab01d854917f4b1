import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { TUS_EXPOSED_HEADERS } from './tus.js';

/** What a browser app may send: GraphQL's, the share link's, and tus's request headers. */
const ALLOWED_HEADERS = [
  'Authorization', 'Content-Type', 'X-Share-Token', 'X-Request-Id', 'X-Requested-With',
  'Apollo-Require-Preflight', 'Tus-Resumable', 'Upload-Offset', 'Upload-Length', 'Upload-Checksum', 'Upload-Metadata', 'X-HTTP-Method-Override',
].join(', ');
const ALLOWED_METHODS = 'GET, POST, HEAD, PATCH, DELETE, OPTIONS';
/** Without these in Access-Control-Expose-Headers a browser client cannot read where to resume. */
const EXPOSED_HEADERS = `${TUS_EXPOSED_HEADERS}, X-Request-Id`;
/** Seconds a browser may reuse a preflight answer (Chromium caps it at 7,200). */
const PREFLIGHT_MAX_AGE = '600';

/**
 * CORS for the origins in CORS_ORIGINS, exactly as listed; others get no CORS headers, so a
 * browser keeps their pages from reading any answer. No credentials are allowed: the API takes
 * its secrets in headers (Authorization, X-Share-Token), never from cookies, so a page can only
 * act with a secret it was given. A preflight from a listed origin is answered here (204), before
 * the tus OPTIONS route, which is the protocol's own discovery request and not a preflight.
 */
export function cors({ origins }: { origins: readonly string[] }): RequestHandler {
  const allowed = new Set(origins);
  return (req: Request, res: Response, next: NextFunction) => {
    if (allowed.size === 0) return next();
    // The answer depends on Origin, so shared caches must key on it.
    res.vary('Origin');
    const origin = req.get('origin');
    if (!origin || !allowed.has(origin)) return next();
    res.set('Access-Control-Allow-Origin', origin);
    if (req.method === 'OPTIONS' && req.get('access-control-request-method')) {
      res.set({
        'Access-Control-Allow-Methods': ALLOWED_METHODS,
        'Access-Control-Allow-Headers': ALLOWED_HEADERS,
        'Access-Control-Max-Age': PREFLIGHT_MAX_AGE,
      });
      return void res.status(204).end();
    }
    res.set('Access-Control-Expose-Headers', EXPOSED_HEADERS);
    next();
  };
}
