import { type Request, Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import type { Upload } from '../db/entities/index.js';
import { AppError, ErrorCode } from '../domain/errors.js';
import { RateLimitedError, type RateLimiter } from '../domain/rate-limit/rate-limiter.js';
import { progressReporter } from '../domain/upload/upload-progress.js';
import { type AssetIntake, receiveBytes, uploadForTicket, type UploadPolicy } from '../domain/upload/upload.service.js';
import { isUuid } from '../domain/validation.js';
import type { Logger } from '../logger.js';
import type { StorageBackend } from '../storage/storage.port.js';
import { sendError } from './errors.js';

/**
 * The byte side of uploads (the GraphQL mutation createUpload hands out the ticket):
 *   HEAD  /uploads/:id   → Upload-Offset: bytes safely stored; resume from there
 *   PATCH /uploads/:id   with Upload-Offset: n and the bytes from n on, as the raw body
 * Both need `Authorization: Upload <ticket token>`. Wrong secrets count against the client address
 * (req.ip); past the limit both answer 429 with Retry-After, even for a right one.
 */
export function uploadsRouter(orm: MikroORM, storage: StorageBackend, intake: AssetIntake, policy: UploadPolicy, log: Logger, limiter: RateLimiter): Router {
  const router = Router();
  const guard = (req: Request) => ({ limiter, clientAddress: req.ip ?? 'unknown' });
  const ticket = (auth: string | undefined) => /^Upload\s+(\S+)$/i.exec(auth ?? '')?.[1] ?? '';

  router.head('/uploads/:id', async (req, res) => {
    try {
      const upload = await uploadForTicket(orm.em.fork(), validId(req.params.id), ticket(req.get('authorization')), guard(req));
      res.set({ 'Upload-Offset': String(upload.receivedBytes), 'Upload-Length': String(upload.size), 'Cache-Control': 'no-store' }).status(200).end();
    } catch (err) {
      if (err instanceof RateLimitedError) {
        res.set('Retry-After', String(err.retryAfterSeconds)).status(429).end();
        return;
      }
      res.status(err instanceof AppError && err.code === ErrorCode.NOT_FOUND ? 404 : 400).end();
    }
  });

  router.patch('/uploads/:id', async (req, res) => {
    const em = orm.em.fork();
    let upload: Upload | undefined;
    try {
      upload = await uploadForTicket(em, validId(req.params.id), ticket(req.get('authorization')), guard(req));
      const offset = Number(req.get('upload-offset'));
      if (!Number.isSafeInteger(offset) || offset < 0) throw new AppError(ErrorCode.BAD_USER_INPUT, 'Upload-Offset: a byte offset is required', 'offset');
      const progress = progressReporter(intake.events, upload);
      const result = await receiveBytes(em, storage, upload, offset, req, policy, intake, (n) => progress.bytes(n)).finally(() => progress.end());
      res.set('Upload-Offset', String(result.offset)).json({
        offset: result.offset,
        status: result.upload.status,
        assetId: result.upload.asset?.id ?? null,
        duplicate: result.upload.duplicate,
      });
    } catch (err) {
      // A client that vanished mid-body needs no answer; its stored parts wait for the resume.
      // (req.destroyed is no test: it is also true once a body has been read to the end.)
      if (!res.socket || res.socket.destroyed) return;
      if (upload && !res.headersSent) res.set('Upload-Offset', String(upload.receivedBytes));
      sendError(res, err, log);
    }
  });
  return router;
}

function validId(id: string | undefined): string {
  if (!id || !isUuid(id)) throw new AppError(ErrorCode.NOT_FOUND, 'Upload not found');
  return id;
}
