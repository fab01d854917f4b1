import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset, ChestEvent, Upload } from '../../db/entities/index.js';
import { UploadStatus } from '../../db/enums.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { pruneRateLimits } from '../rate-limit/rate-limiter.js';

export interface SweepReport {
  /** Staging objects removed (abandoned or finished uploads). */
  stagingRemoved: string[];
  /** Originals with no asset row, older than the grace period, removed (a crash between write and commit). */
  orphansRemoved: string[];
  /** Asset rows whose original is missing. Never deleted here: a person must look. */
  missingObjects: { assetId: string; storageKey: string }[];
  /** Open uploads past their expiry, now FAILED. */
  expiredUploads: string[];
  /** Thumbnails and posters of memories that no longer exist (a processing run that lost a race). */
  derivativesRemoved: string[];
  /** Chest events older than the retention, removed (catch-up only needs recent ones). */
  eventsPruned: number;
  /** Rate-limit counters whose window ended. */
  rateLimitsPruned: number;
  /** Half-written files of puts whose process died (filesystem backend only; S3 keeps none). */
  tempFilesRemoved: number;
}

/**
 * Keeps storage and database in step: no object without a row (past a grace period that covers
 * an upload being finished right now), and every row without its object reported. Safe to run
 * at any time and from any process: it only removes what no row will ever point to.
 */
export async function sweep(
  em: EntityManager,
  storage: StorageBackend,
  { graceMs, eventRetentionMs = 30 * 86_400_000 }: { graceMs: number; eventRetentionMs?: number },
): Promise<SweepReport> {
  const report: SweepReport = { stagingRemoved: [], orphansRemoved: [], missingObjects: [], expiredUploads: [], derivativesRemoved: [], eventsPruned: 0, rateLimitsPruned: 0, tempFilesRemoved: 0 };
  const cutoff = Date.now() - graceMs;

  const expired = await em.find(Upload, { status: UploadStatus.OPEN, expiresAt: { $lt: new Date() } });
  for (const u of expired) {
    await em.nativeUpdate(Upload, { id: u.id, status: UploadStatus.OPEN }, { status: UploadStatus.FAILED, error: 'The upload ticket expired' });
    report.expiredUploads.push(u.id);
  }

  // Staging parts belong to open uploads only.
  const open = new Set((await em.find(Upload, { status: UploadStatus.OPEN }, { fields: ['id'] })).map((u) => u.id));
  for await (const obj of storage.list('staging/uploads/')) {
    const uploadId = obj.key.slice('staging/uploads/'.length).split('/')[0]!;
    if (!open.has(uploadId) && obj.lastModified.getTime() < cutoff) {
      await storage.delete(obj.key);
      report.stagingRemoved.push(obj.key);
    }
  }

  // Originals: an object is kept when a row names it (deleted rows included: the bin keeps files).
  // Derivatives: kept while their asset row exists.
  for await (const obj of storage.list('chests/')) {
    if (obj.lastModified.getTime() >= cutoff) continue;
    if (/^chests\/[^/]+\/originals\/[^/]+$/.test(obj.key)) {
      if ((await em.count(Asset, { storageKey: obj.key })) === 0) {
        await storage.delete(obj.key);
        report.orphansRemoved.push(obj.key);
      }
      continue;
    }
    const derivative = /^chests\/[^/]+\/derivatives\/([0-9a-f-]{36})\/[^/]+$/.exec(obj.key);
    if (derivative && (await em.count(Asset, { id: derivative[1]! })) === 0) {
      await storage.delete(obj.key);
      report.derivativesRemoved.push(obj.key);
    }
  }

  // A process killed mid-put leaves its temp file behind; a running put keeps touching its own.
  const temp = storage as Partial<{ sweepStaging(olderThanMs: number): Promise<number> }>;
  if (typeof temp.sweepStaging === 'function') report.tempFilesRemoved = await temp.sweepStaging.call(storage, Math.max(graceMs, 60_000));

  report.eventsPruned = await em.nativeDelete(ChestEvent, { createdAt: { $lt: new Date(Date.now() - eventRetentionMs) } });
  report.rateLimitsPruned = await pruneRateLimits(em);

  const assets = await em.find(Asset, {}, { fields: ['id', 'storageKey'] });
  for (const a of assets) {
    if (!(await storage.stat(a.storageKey))) report.missingObjects.push({ assetId: a.id, storageKey: a.storageKey });
  }
  return report;
}

