import { Router } from 'express';
import type { MikroORM } from '@mikro-orm/postgresql';
import { ChestExport } from '../db/entities/index.js';
import { ExportStatus } from '../db/enums.js';
import { notFound } from '../domain/errors.js';
import { archiveFilename } from '../domain/export/export.service.js';
import { verifyExportLink } from '../domain/export/export-link.js';
import { isUuid } from '../domain/validation.js';
import type { Logger } from '../logger.js';
import { contentDisposition } from '../storage/content-disposition.js';
import type { StorageBackend } from '../storage/storage.port.js';
import { sendError } from './errors.js';

/**
 * GET /exports/:id?exp&sig — a chest's archive behind a signed, short-lived link (filesystem
 * storage; S3 links go to the bucket directly). Streamed from storage as a download, never
 * opened by the browser. An expired archive, or a link past its time, is 404.
 */
export function exportsRouter(orm: MikroORM, storage: StorageBackend, secret: string, log: Logger): Router {
  const router = Router();
  router.get('/exports/:id', async (req, res) => {
    try {
      const { id } = req.params;
      const ok = isUuid(id) && verifyExportLink(secret, id, String(req.query.exp ?? ''), String(req.query.sig ?? ''));
      const row = ok ? await orm.em.fork().findOne(ChestExport, { id, status: ExportStatus.READY, expiresAt: { $gt: new Date() } }, { populate: ['chest'] }) : null;
      if (!row?.storageKey || row.bytes === null) throw notFound('Export');
      // Opened before any header is set: if storage is down, the 503 carries none of the archive's headers.
      const stream = await storage.get(row.storageKey);
      res.status(200).set({
        'Content-Type': 'application/zip',
        'Content-Disposition': contentDisposition(archiveFilename(row.chest.personName, row), 'attachment'),
        'Content-Length': String(row.bytes),
        'X-Content-Type-Options': 'nosniff',
        'Cache-Control': 'private, no-store',
        'Content-Security-Policy': "default-src 'none'; sandbox",
      });
      stream.on('error', (err) => {
        log.error({ err, exportId: id }, 'export download stream failed');
        res.destroy(err);
      });
      stream.pipe(res);
    } catch (err) {
      sendError(res, err, log);
    }
  });
  return router;
}
