import { StorageUnavailableError } from './storage.port.js';

/** Socket errors that mean "the server is not there right now", not "the request is wrong". */
export const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * S3 error codes of an overloaded or failing server, when the server's answer carried one (a 500
 * with an XML body: InternalError). The minio client gives no HTTP status on its errors.
 */
const S3_RETRYABLE_CODES = new Set(['InternalError', 'ServiceUnavailable', 'SlowDown', 'RequestTimeout', 'XMinioServerNotInitialized']);

/** Whether an error of the S3 client (or of a socket under it) says the server is unavailable. */
export function isS3Unavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || S3_RETRYABLE_CODES.has(code))) return true;
  // Node's http client: the server closed the socket before answering (code ECONNRESET, usually).
  // minio 8 retries a 408, 429 or 5xx once and then throws a plain Error naming the status.
  return /socket hang up|other side closed|Retryable HTTP status: (408|429|499|5\d\d)/i.test(err.message);
}

/** Runs one storage call, turning "server unavailable" failures into StorageUnavailableError. */
export async function unavailableAs<T>(operation: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (isS3Unavailable(err)) throw new StorageUnavailableError(operation, { cause: err });
    throw err;
  }
}
