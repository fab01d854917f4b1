import type { Response } from 'express';
import { AppError, ErrorCode } from '../domain/errors.js';
import { RateLimitedError } from '../domain/rate-limit/rate-limiter.js';
import { asUnavailable } from '../domain/unavailable.js';
import type { Logger } from '../logger.js';

const STATUS: Partial<Record<ErrorCode, number>> = {
  [ErrorCode.BAD_USER_INPUT]: 400,
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.NOT_FOUND]: 404,
  [ErrorCode.CONFLICT]: 409,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.UNSUPPORTED_FILE_TYPE]: 415,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.SERVICE_UNAVAILABLE]: 503,
};

/**
 * The HTTP answer for an error, for routes that send no body (HEAD) and as the base of sendError:
 * catalogue errors by their code, outages (database, storage) 503 with Retry-After, the rest 500.
 */
export function httpStatusOf(err: unknown): { status: number; retryAfterSeconds?: number } {
  const unavailable = asUnavailable(err);
  if (unavailable) return { status: 503, retryAfterSeconds: unavailable.retryAfterSeconds };
  if (err instanceof RateLimitedError) return { status: 429, retryAfterSeconds: err.retryAfterSeconds };
  if (err instanceof AppError) return { status: STATUS[err.code] ?? 400 };
  return { status: 500 };
}

/**
 * Answers 503 SERVICE_UNAVAILABLE with Retry-After when the error is a database or storage outage
 * (asUnavailable decides); returns whether it did.
 */
export function sendIfUnavailable(res: Response, err: unknown, log: Logger): boolean {
  const unavailable = asUnavailable(err);
  if (!unavailable) return false;
  log.warn({ err, backend: unavailable.backend }, 'HTTP request met an outage');
  res.set('Retry-After', String(unavailable.retryAfterSeconds)).status(503);
  res.json({ errors: [{ message: unavailable.message, extensions: { code: unavailable.code, retryAfter: unavailable.retryAfterSeconds } }] });
  return true;
}

/** REST routes answer errors in the same shape and catalogue as GraphQL. */
export function sendError(res: Response, err: unknown, log: Logger): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (sendIfUnavailable(res, err, log)) return;
  if (err instanceof RateLimitedError) {
    res.set('Retry-After', String(err.retryAfterSeconds)).status(429);
    res.json({ errors: [{ message: err.message, extensions: { code: err.code, retryAfter: err.retryAfterSeconds } }] });
    return;
  }
  if (err instanceof AppError) {
    res.status(STATUS[err.code] ?? 400).json({ errors: [{ message: err.message, extensions: { code: err.code, ...(err.field && { field: err.field }) } }] });
    return;
  }
  log.error({ err }, 'unexpected error in a file route');
  res.status(500).json({ errors: [{ message: 'Internal server error', extensions: { code: ErrorCode.INTERNAL_SERVER_ERROR } }] });
}
