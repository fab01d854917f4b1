import { type Request, type Response, Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { Asset } from '../db/entities/index.js';
import { FileType } from '../db/enums.js';
import { findDerivative, type ServedDerivative, verifyDownload } from '../domain/asset/download.js';
import { AppError, ErrorCode, notFound } from '../domain/errors.js';
import { findFaceCrop } from '../domain/people/faces.step.js';
import { isUuid } from '../domain/validation.js';
import type { Logger } from '../logger.js';
import { contentDisposition } from '../storage/content-disposition.js';
import type { ByteRange, StorageBackend } from '../storage/storage.port.js';
import { sendError } from './errors.js';

/**
 * GET /files/:assetId?exp&sig — originals behind a signed, short-lived link (filesystem storage;
 * S3 links go to the bucket directly); only members and allowOriginals view links are given one.
 * GET /files/:assetId/:name?exp&sig — thumbnails, posters, previews, face crops and a document's text;
 * GET /files/bin/:assetId/:name — a binned memory's thumbnails, for its owners. Supports Range so video can be seeked; never lets a browser
 * guess the type; documents download rather than open.
 */
export function filesRouter(orm: MikroORM, storage: StorageBackend, secret: string, log: Logger): Router {
  const router = Router();
  router.get('/files/:assetId', async (req, res) => {
    try {
      const { assetId } = req.params;
      const ok = isUuid(assetId) && verifyDownload(secret, assetId, String(req.query.exp ?? ''), String(req.query.sig ?? ''));
      const asset = ok ? await orm.em.fork().findOne(Asset, { id: assetId, deletedAt: null }) : null;
      if (!asset) throw notFound('File');
      const range = parseRange(req.get('range'), asset.size);
      const disposition = asset.fileType === FileType.DOCUMENT ? 'attachment' : 'inline';
      // Opened before any header is set: if storage is down, the 503 carries none of the file's headers.
      const stream = await storage.get(asset.storageKey, range ?? undefined);
      res.set({
        'Content-Type': asset.mimeType,
        'Content-Disposition': `${disposition}; filename="${asset.filename.replace(/[^\x20-\x7e]|["\\]/g, '_')}"; filename*=UTF-8''${encodeURIComponent(asset.filename)}`,
        'X-Content-Type-Options': 'nosniff',
        'Accept-Ranges': 'bytes',
        'Cache-Control': 'private, no-store',
        'Content-Security-Policy': "default-src 'none'; sandbox",
      });
      if (range) {
        res.status(206).set({ 'Content-Range': `bytes ${range.start}-${range.end}/${asset.size}`, 'Content-Length': String(range.end - range.start + 1) });
      } else {
        res.status(200).set('Content-Length', String(asset.size));
      }
      stream.on('error', (err) => {
        log.error({ err, assetId }, 'download stream failed');
        res.destroy(err);
      });
      stream.pipe(res);
    } catch (err) {
      sendError(res, err, log);
    }
  });
  // A binned memory's thumbnails, for its owners looking at the bin (binnedDerivativeUrl); live memories' links never open here.
  router.get('/files/bin/:assetId/:name', (req, res) => derivative(req, res, true));
  router.get('/files/:assetId/:name', (req, res) => derivative(req, res, false));
  async function derivative(req: Request, res: Response, binned: boolean): Promise<void> {
    try {
      const assetId = String(req.params.assetId);
      const name = String(req.params.name);
      const resource = `${binned ? 'bin/' : ''}${assetId}/${name}`;
      const ok = isUuid(assetId) && /^[a-z0-9-]{1,40}$/.test(name) && verifyDownload(secret, resource, String(req.query.exp ?? ''), String(req.query.sig ?? ''));
      const em = orm.em.fork();
      const asset = ok ? await em.findOne(Asset, { id: assetId, deletedAt: binned ? { $ne: null } : null }) : null;
      const served: ServedDerivative | null = !asset ? null : binned ? binnedThumbnail(asset, name) : (findDerivative(asset, name) ?? (await findFaceCrop(em, asset.id, name)));
      if (!served) throw notFound('File');
      // Previews are what non-members watch and listen to: seekable like originals.
      const size = 'size' in served ? served.size : undefined;
      const range = size !== undefined ? parseRange(req.get('range'), size) : null;
      // Opened before any header is set (see above); a text derivative needs no storage.
      const stream = 'text' in served ? null : await storage.get(served.storageKey, range ?? undefined);
      // Derivatives reach people outside the family: a neutral name, never the original's.
      res.status(200).set({
        'Content-Type': served.mimeType,
        'Content-Disposition': contentDisposition(served.filename, 'inline'),
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'private, max-age=300',
        'Content-Security-Policy': "default-src 'none'; sandbox",
      });
      if ('text' in served) return void res.send(Buffer.from(served.text, 'utf8'));
      if (size !== undefined) res.set({ 'Accept-Ranges': 'bytes', 'Content-Length': String(size) });
      if (range) res.status(206).set({ 'Content-Range': `bytes ${range.start}-${range.end}/${size}`, 'Content-Length': String(range.end - range.start + 1) });
      if (!stream) return;
      stream.on('error', (err) => {
        log.error({ err, assetId }, 'derivative stream failed');
        res.destroy(err);
      });
      stream.pipe(res);
    } catch (err) {
      sendError(res, err, log);
    }
  }
  return router;
}

/** From the bin, owners see thumbnails only (the bin shows what is there; restore it to open or download it). */
function binnedThumbnail(asset: Asset, name: string): ServedDerivative | null {
  const t = asset.thumbnails.find((x) => x.name === name);
  return t ? { storageKey: t.storageKey, mimeType: t.mimeType, filename: `${t.name.startsWith('poster') ? 'poster' : 'photo'}.webp` } : null;
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range; null for none; 416-worthy ranges are errors. */
function parseRange(header: string | undefined, size: number): Required<ByteRange> | null {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw new AppError(ErrorCode.BAD_USER_INPUT, 'Range: only one bytes range is supported', 'range');
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) throw new AppError(ErrorCode.BAD_USER_INPUT, 'Range: not satisfiable', 'range');
  return { start, end };
}
