/**
 * The error catalogue. Every failure a client can see has one of these codes, which becomes
 * `extensions.code`; anything else is reported as INTERNAL_SERVER_ERROR with no detail.
 */
export const ErrorCode = {
  /** No valid credentials where they are required. */
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  /** Signed in and allowed to see the thing, but not to do this with it. */
  FORBIDDEN: 'FORBIDDEN',
  /** It does not exist, or the caller may not know that it exists. */
  NOT_FOUND: 'NOT_FOUND',
  /** An argument is invalid; `extensions.field` names it. */
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  /** The request conflicts with the current state (e.g. restoring a chest that is not deleted). */
  CONFLICT: 'CONFLICT',
  /** deleteMemory on a memory that is in the bin already (restoreMemory brings it back, purgeMemory erases it). */
  ALREADY_IN_BIN: 'ALREADY_IN_BIN',
  /** restoreMemory or purgeMemory on a memory that is not in the bin (purging needs deleteMemory first). */
  NOT_IN_BIN: 'NOT_IN_BIN',
  /** Reviewing a contribution's memory that is no longer waiting: approved already (alone or with its contribution). */
  ALREADY_REVIEWED: 'ALREADY_REVIEWED',
  /** A file is larger than its kind allows, or than it said it would be. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The bytes are not a kind of file we keep (or contradict what the client declared). */
  UNSUPPORTED_FILE_TYPE: 'UNSUPPORTED_FILE_TYPE',
  /**
   * A GraphQL document over a query limit (length, tokens, depth, aliases, directives, repeated
   * fields, cost), refused before validation; `extensions.limit` names the limit, `extensions.max` its value.
   */
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  /** Too many requests of this kind from this client; try again later. */
  RATE_LIMITED: 'RATE_LIMITED',
  /**
   * The database or file storage is unreachable or too slow right now (HTTP 503 with Retry-After;
   * `extensions.retryAfter` in seconds). Nothing was lost: the same request can simply be sent again.
   */
  SERVICE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  /** Something failed on our side; details are in the server log under the request id. */
  INTERNAL_SERVER_ERROR: 'INTERNAL_SERVER_ERROR',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** An expected failure with a message meant for the client. Never carries SQL or a stack to it. */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'AppError';
  }
}

/**
 * A backend we depend on (database, storage) is down or did not answer in time. Built only by
 * asUnavailable (domain/unavailable.ts), which recognises those failures in one place.
 */
export class ServiceUnavailableError extends AppError {
  constructor(
    /** Which backend failed; for the log only, never shown to the client. */
    readonly backend: 'database' | 'storage',
    readonly retryAfterSeconds: number,
    options?: { cause?: unknown },
  ) {
    super(ErrorCode.SERVICE_UNAVAILABLE, `The service is temporarily unavailable; try again in ${retryAfterSeconds} seconds`);
    this.name = 'ServiceUnavailableError';
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

export const notFound = (what: string) => new AppError(ErrorCode.NOT_FOUND, `${what} not found`);
export const badInput = (field: string, message: string) => new AppError(ErrorCode.BAD_USER_INPUT, message, field);
export const conflict = (message: string) => new AppError(ErrorCode.CONFLICT, message);
