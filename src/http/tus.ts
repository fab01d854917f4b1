import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import { AppError, ErrorCode } from '../domain/errors.js';
import { UploadConflictError } from '../domain/upload/upload-lease.js';
import { PART_SIZE } from '../domain/upload/upload.service.js';

/** tus 1.0 as the upload route serves it (https://tus.io/protocols/resumable-upload). */
export const TUS_VERSION = '1.0.0';
/** No creation: the GraphQL ticket (createUpload) is how an upload begins, with its secret. */
export const TUS_EXTENSIONS = 'termination,checksum';
export const TUS_CHECKSUMS = 'sha256';
/** A checksummed PATCH is held in memory until it is verified (nothing unverified is appended). */
export const CHECKSUM_BODY_LIMIT = PART_SIZE;

/** Headers a browser client (Uppy) must be allowed to read, for an API served with CORS. */
export const TUS_EXPOSED_HEADERS = [
  'Upload-Offset', 'Upload-Length', 'Location', 'Tus-Resumable', 'Tus-Version', 'Tus-Extension',
  'Tus-Max-Size', 'Tus-Checksum-Algorithm', 'Retry-After', 'Upload-Status', 'Upload-Asset-Id', 'Upload-Duplicate',
].join(', ');

/** The spec's code for a body that does not match its Upload-Checksum. */
export class ChecksumMismatchError extends AppError {
  constructor() {
    super(ErrorCode.BAD_USER_INPUT, 'Upload-Checksum: the bytes do not match; nothing was stored', 'checksum');
  }
}

/**
 * A tus request carries Tus-Resumable. Requests without it are the route's older clients (the curl
 * flow in docs/uploads.md, JSON answers) and are answered as before.
 */
export function tusVersionAccepted(req: Request): boolean {
  const asked = req.get('tus-resumable');
  return asked === undefined || asked === TUS_VERSION;
}

/** The 412 for another tus version: the versions served, and (but to HEAD) the usual error body. */
export function refuseTusVersion(req: Request, res: Response): void {
  res.set('Tus-Version', TUS_VERSION).status(412);
  if (req.method === 'HEAD') res.end();
  else res.json({ errors: [{ message: `Tus-Resumable: only ${TUS_VERSION} is served`, extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'tusResumable' } }] });
}

export const isTus = (req: Request) => req.get('tus-resumable') !== undefined;

/**
 * How many checksummed bodies one process holds in memory at once, for all uploads together
 * (CHECKSUM_BODY_LIMIT each), and one per upload: a client sending many at one ticket, or at many,
 * is told to come back (409 with Retry-After) instead of filling the heap.
 */
export const CHECKSUM_BODIES_AT_ONCE = 8;
const heldChecksumBodies = new Set<string>();
/** How many checksummed bodies this process holds now (for tests and metrics). */
export const checksumBodiesHeld = (): number => heldChecksumBodies.size;

/** The body is over what a checksummed PATCH may carry, known from Content-Length before a byte is read. */
export function checksumBodyTooLarge(req: Request): boolean {
  const length = Number(req.get('content-length'));
  return req.get('upload-checksum') !== undefined && Number.isFinite(length) && length > CHECKSUM_BODY_LIMIT;
}

/**
 * When the PATCH names a checksum, reads its body (at most CHECKSUM_BODY_LIMIT) and checks it
 * before a byte reaches storage; returns the body to store. Without one, the request streams.
 * Call it once the offset is known to be right and a declared Content-Length is within the limit
 * (checksumBodyTooLarge): reading comes last, after every cheap refusal.
 */
export async function verifiedBody(req: Request, { uploadId, offset }: { uploadId: string; offset: number }): Promise<Readable> {
  const header = req.get('upload-checksum');
  if (header === undefined) return req;
  const [algorithm, expected] = header.trim().split(/\s+/);
  if (algorithm?.toLowerCase() !== 'sha256' || !expected) {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'Upload-Checksum: only sha256 is supported', 'checksum');
  }
  if (heldChecksumBodies.has(uploadId)) throw new UploadConflictError('Another request is sending to this upload; try again shortly', offset, 1);
  // 409 with Retry-After, like a busy ticket: tus clients retry a 409 (a 503 or 429 they may not).
  if (heldChecksumBodies.size >= CHECKSUM_BODIES_AT_ONCE) throw new UploadConflictError('The server is checking many uploads at once; try again shortly', offset, 1);
  heldChecksumBodies.add(uploadId);
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > CHECKSUM_BODY_LIMIT) throw checksumTooLarge();
      chunks.push(chunk);
    }
    const body = Buffer.concat(chunks);
    if (createHash('sha256').update(body).digest('base64') !== expected) throw new ChecksumMismatchError();
    return Readable.from(body.length ? [body] : []);
  } finally {
    heldChecksumBodies.delete(uploadId);
  }
}

export const checksumTooLarge = () =>
  new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `Upload-Checksum: at most ${CHECKSUM_BODY_LIMIT} bytes per checksummed request`, 'checksum');

/**
 * Upload-Offset as tus defines it: a non-negative integer in decimal digits, nothing else
 * (Number() would read '' as 0 and '1e3' as 1000).
 */
export function uploadOffset(req: Request): number {
  const raw = req.get('upload-offset') ?? '';
  const offset = /^\d{1,16}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(offset)) throw new AppError(ErrorCode.BAD_USER_INPUT, 'Upload-Offset: a byte offset is required', 'offset');
  return offset;
}

/** Methods a client behind a proxy that allows only GET and POST may send as POST (tus core). */
const OVERRIDABLE = new Set(['PATCH', 'DELETE', 'HEAD']);

/**
 * tus core: a POST with `X-HTTP-Method-Override` is handled as the method it names (tus-js-client's
 * overridePatchMethod, for proxies that refuse PATCH). Only on an upload URL; elsewhere it means nothing.
 */
export function methodOverride(req: Request, _res: Response, next: () => void): void {
  const override = req.get('x-http-method-override')?.trim().toUpperCase();
  if (req.method === 'POST' && override && OVERRIDABLE.has(override)) req.method = override;
  next();
}
