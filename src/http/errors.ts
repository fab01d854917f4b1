import type { Response } from 'express';
import { AppError, ErrorCode } from '../domain/errors.js';
import { RateLimitedError } from '../domain/rate-limit/rate-limiter.js';
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
};

/** REST routes answer errors in the same shape and catalogue as GraphQL. */
export function sendError(res: Response, err: unknown, log: Logger): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
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
