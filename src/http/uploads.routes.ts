import { type Request, type Response, Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Upload } from '../db/entities/index.js';
import { AppError, ErrorCode } from '../domain/errors.js';
import type { RateLimiter } from '../domain/rate-limit/rate-limiter.js';
import { progressReporter } from '../domain/upload/upload-progress.js';
import { killProcessAt, type UploadFaults } from '../domain/upload/upload-faults.js';
import { UploadConflictError, wrongOffset } from '../domain/upload/upload-lease.js';
import { type AssetIntake, PART_SIZE, receiveBytes, reconcileUpload, uploadForTicket, type UploadPolicy } from '../domain/upload/upload.service.js';
import { isUuid } from '../domain/validation.js';
import type { Logger } from '../logger.js';
import type { StorageBackend } from '../storage/storage.port.js';
import { recordUploadBytes } from '../metrics/http.js';
import { httpStatusOf, sendError } from './errors.js';
import { UploadStatus } from '../db/enums.js';
import { cancelUpload } from '../domain/upload/upload-cancel.js';
import {
  ChecksumMismatchError,
  checksumBodyTooLarge,
  checksumTooLarge,
  isTus,
  methodOverride,
  TUS_CHECKSUMS,
  TUS_EXTENSIONS,
  TUS_VERSION,
  refuseTusVersion,
  tusVersionAccepted,
  uploadOffset,
  verifiedBody,
} from './tus.js';

/**
 * The byte side of uploads (the GraphQL mutation createUpload hands out the ticket), tus 1.0 core
 * with termination and checksum (sha256); see src/http/tus.ts:
 *   OPTIONS /uploads[/:id] → 204 Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm
 *   HEAD    /uploads/:id   → Upload-Offset: bytes safely stored; resume from there
 *   PATCH   /uploads/:id   with Upload-Offset: n and the bytes from n on, as the raw body
 *   DELETE  /uploads/:id   → cancels an open upload (tus termination)
 * A request with Tus-Resumable gets tus answers (PATCH 204, the outcome in Upload-Status,
 * Upload-Asset-Id, Upload-Duplicate); one without gets the older JSON answer to PATCH.
 * All but OPTIONS need `Authorization: Upload <ticket token>`. Wrong secrets count against the client address
 * (req.ip); past the limit both answer 429 with Retry-After, even for a right one.
 * One PATCH at a time per ticket: another one, or a wrong offset, is 409 with the server's
 * Upload-Offset (and Retry-After while another request holds the ticket).
 */
export function uploadsRouter(
  orm: MikroORM,
  storage: StorageBackend,
  intake: AssetIntake,
  policy: UploadPolicy & { drillKillAt?: Parameters<typeof killProcessAt>[0] | null; faults?: UploadFaults },
  log: Logger,
  limiter: RateLimiter,
): Router {
  const router = Router();
  // Tests pass a fault hook; the crash drill names a step to die at (UPLOAD_DRILL_KILL_AT).
  const faults = policy.faults ?? (policy.drillKillAt ? killProcessAt(policy.drillKillAt) : undefined);
  if (policy.drillKillAt) log.warn({ killAt: policy.drillKillAt }, 'crash drill: this process SIGKILLs itself at an upload step');
  const guard = (req: Request) => ({ limiter, clientAddress: req.ip ?? 'unknown' });
  const ticket = (auth: string | undefined) => /^Upload\s+(\S+)$/i.exec(auth ?? '')?.[1] ?? '';
  const maxSize = Math.max(...Object.values(policy.maxBytes));

  // No ticket needed to learn what the server speaks; tus says OPTIONS carries no Tus-Resumable.
  router.options(['/uploads', '/uploads/:id'], (_req, res) => {
    res.set({ 'Tus-Version': TUS_VERSION, 'Tus-Extension': TUS_EXTENSIONS, 'Tus-Max-Size': String(maxSize), 'Tus-Checksum-Algorithm': TUS_CHECKSUMS });
    res.status(204).end();
  });
  router.use('/uploads/:id', methodOverride);
  router.use('/uploads/:id', async (req, res, next) => {
    if (!['HEAD', 'PATCH', 'DELETE'].includes(req.method)) return next();
    res.set('Tus-Resumable', TUS_VERSION);
    if (tusVersionAccepted(req)) return next();
    // A 412 to a PATCH: read the body it carries first, or the client sees a reset, not the 412.
    if (req.method === 'PATCH') await drainBody(req, res);
    if (res.socket && !res.socket.destroyed) refuseTusVersion(req, res);
  });
  // tus has no creation here: a client that POSTs to make an upload is told where uploads begin.
  router.post('/uploads', (req, res) => {
    if (isTus(req)) res.set('Tus-Resumable', TUS_VERSION);
    res.status(405).set('Allow', 'OPTIONS').json({
      errors: [{ message: 'Uploads begin with the GraphQL mutation createUpload, which returns the upload URL and its secret', extensions: { code: 'BAD_REQUEST' } }],
    });
  });

  router.head('/uploads/:id', async (req, res) => {
    try {
      const em = orm.em.fork();
      const found = await uploadForTicket(em, validId(req.params.id), ticket(req.get('authorization')), guard(req));
      const upload = await reconcileUpload({ em, storage, policy }, found);
      // A cancelled or refused upload is gone for a tus client (no Upload-Offset to resume from).
      if (isTus(req) && upload.status === UploadStatus.FAILED) return void res.status(410).set('Cache-Control', 'no-store').end();
      // A finished upload says what it became: a tus client resuming at the end reads it here.
      if (upload.status === UploadStatus.COMPLETE && upload.asset) res.set({ 'Upload-Status': upload.status, 'Upload-Asset-Id': upload.asset.id, 'Upload-Duplicate': String(upload.duplicate) });
      res.set({ 'Upload-Offset': String(upload.receivedBytes), 'Upload-Length': String(upload.size), 'Cache-Control': 'no-store' }).status(200).end();
    } catch (err) {
      // A HEAD answer has no body: the status (and Retry-After for 429 and 503) is all it says.
      const { status, retryAfterSeconds } = httpStatusOf(err);
      if (status >= 500) log.warn({ err }, 'upload HEAD failed');
      if (retryAfterSeconds !== undefined) res.set('Retry-After', String(retryAfterSeconds));
      res.status(status).end();
    }
  });

  router.patch('/uploads/:id', async (req, res) => {
    const em = orm.em.fork();
    let upload: Upload | undefined;
    try {
      const tus = isTus(req);
      if (tus && req.get('content-type')?.split(';')[0]?.trim().toLowerCase() !== 'application/offset+octet-stream') {
        throw new AppError(ErrorCode.UNSUPPORTED_FILE_TYPE, 'Content-Type: application/offset+octet-stream is required', 'contentType');
      }
      // Refused from Content-Length alone, before the ticket is even looked up.
      if (checksumBodyTooLarge(req)) throw checksumTooLarge();
      upload = await uploadForTicket(em, validId(req.params.id), ticket(req.get('authorization')), guard(req));
      if (tus && upload.status === UploadStatus.FAILED) throw new GoneError();
      const offset = uploadOffset(req);
      // The cheap refusal first: a body held for its checksum must at least be at the right offset
      // (receiveBytes checks again under the lease, which is what counts).
      if (upload.status === UploadStatus.OPEN && offset !== upload.receivedBytes && req.get('upload-checksum') !== undefined) {
        throw wrongOffset(upload.receivedBytes);
      }
      const body = await verifiedBody(req, { uploadId: upload.id, offset });
      const progress = progressReporter(intake.events, upload);
      const result = await receiveBytes({ em, storage, policy, intake, faults }, { upload, offset, body, onProgress: (n) => progress.bytes(n) }).finally(() => progress.end());
      recordUploadBytes({ bytes: result.offset - offset });
      res.set('Upload-Offset', String(result.offset));
      if (tus) {
        res.set('Upload-Status', result.upload.status);
        if (result.upload.asset) res.set({ 'Upload-Asset-Id': result.upload.asset.id, 'Upload-Duplicate': String(result.upload.duplicate) });
        return void res.status(204).end();
      }
      res.json({
        offset: result.offset,
        status: result.upload.status,
        assetId: result.upload.asset?.id ?? null,
        duplicate: result.upload.duplicate,
      });
    } catch (err) {
      // A client that vanished mid-body needs no answer; its stored parts wait for the resume.
      // (req.destroyed is no test: it is also true once a body has been read to the end.)
      if (!res.socket || res.socket.destroyed) return;
      if (!res.headersSent && err instanceof UploadConflictError) {
        res.set('Upload-Offset', String(err.offset));
        if (err.retryAfterSeconds !== null) res.set('Retry-After', String(err.retryAfterSeconds));
      } else if (upload && !res.headersSent && !(err instanceof GoneError)) res.set('Upload-Offset', String(upload.receivedBytes));
      await drainBody(req, res);
      if (!res.socket || res.socket.destroyed) return;
      if (err instanceof ChecksumMismatchError) return void res.status(460).json({ errors: [{ message: err.message, extensions: { code: 'CHECKSUM_MISMATCH', field: err.field } }] });
      if (err instanceof GoneError) return void res.status(410).json({ errors: [{ message: err.message, extensions: { code: ErrorCode.NOT_FOUND } }] });
      sendError(res, err, log);
    }
  });

  router.delete('/uploads/:id', async (req, res) => {
    try {
      const em = orm.em.fork();
      const upload = await uploadForTicket(em, validId(req.params.id), ticket(req.get('authorization')), guard(req));
      await cancelUpload({ em, storage, policy }, upload);
      res.status(204).end();
    } catch (err) {
      if (!res.headersSent && err instanceof UploadConflictError) res.set('Upload-Offset', String(err.offset));
      sendError(res, err, log);
    }
  });
  return router;
}

/** What an error answer reads and discards of a body it did not take, so the client can read it. */
const DRAIN_LIMIT = 2 * PART_SIZE;

/**
 * An answer sent while the client is still sending reaches most clients as a connection reset,
 * not as the 409 or 5xx that says where to resume. So the rest of a body (up to DRAIN_LIMIT, a
 * few seconds at most) is read and dropped first; past that the connection closes after the answer.
 */
async function drainBody(req: Request, res: Response): Promise<void> {
  if (req.readableEnded || req.destroyed) return;
  let seen = 0;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      req.off('data', onData).off('end', done).off('close', done);
      resolve();
    };
    const onData = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DRAIN_LIMIT) {
        res.set('Connection', 'close');
        done();
      }
    };
    const timer = setTimeout(() => {
      res.set('Connection', 'close');
      done();
    }, 5_000);
    req.on('data', onData).once('end', done).once('close', done);
    req.resume();
  });
}

/** A tus client's upload that was cancelled or refused: 410, so it starts anew instead of retrying. */
class GoneError extends AppError {
  constructor() {
    super(ErrorCode.NOT_FOUND, 'Upload is gone (cancelled or refused)');
  }
}

function validId(id: string | undefined): string {
  if (!id || !isUuid(id)) throw new AppError(ErrorCode.NOT_FOUND, 'Upload not found');
  return id;
}
