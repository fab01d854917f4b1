import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Request, Response } from 'express';
import { AppError, ErrorCode } from '../domain/errors.js';
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
 * A tus request carries Tus-Resumable. Requests without it are the route's older clients (the
 * README's curl flow, JSON answers) and are answered as before. Returns false after answering 412.
 */
export function tusVersionAccepted(req: Request, res: Response): boolean {
  const asked = req.get('tus-resumable');
  if (asked === undefined || asked === TUS_VERSION) return true;
  res.set('Tus-Version', TUS_VERSION).status(412);
  if (req.method === 'HEAD') res.end();
  else res.json({ errors: [{ message: `Tus-Resumable: only ${TUS_VERSION} is served`, extensions: { code: ErrorCode.BAD_USER_INPUT, field: 'tusResumable' } }] });
  return false;
}

export const isTus = (req: Request) => req.get('tus-resumable') !== undefined;

/**
 * When the PATCH names a checksum, reads its body (at most CHECKSUM_BODY_LIMIT) and checks it
 * before a byte reaches storage; returns the body to store. Without one, the request streams.
 */
export async function verifiedBody(req: Request): Promise<Readable> {
  const header = req.get('upload-checksum');
  if (header === undefined) return req;
  const [algorithm, expected] = header.trim().split(/\s+/);
  if (algorithm?.toLowerCase() !== 'sha256' || !expected) {
    throw new AppError(ErrorCode.BAD_USER_INPUT, 'Upload-Checksum: only sha256 is supported', 'checksum');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > CHECKSUM_BODY_LIMIT) {
      throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `Upload-Checksum: at most ${CHECKSUM_BODY_LIMIT} bytes per checksummed request`, 'checksum');
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  if (createHash('sha256').update(body).digest('base64') !== expected) throw new ChecksumMismatchError();
  return Readable.from(body.length ? [body] : []);
}
