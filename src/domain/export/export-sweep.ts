import type { EntityManager } from '@mikro-orm/postgresql';
import { ChestExport } from '../../db/entities/index.js';
import type { StorageBackend } from '../../storage/storage.port.js';

export interface ExportSweepReport {
  /** Archives past their expiry: rows and objects deleted. */
  expired: string[];
  /** Archive objects no row names (a chest deleted with its rows, an attempt that lost a race), older than the grace period. */
  orphansRemoved: string[];
}

/**
 * Deletes archives past expiresAt (object first, then row: a crash between leaves a row the next
 * sweep finishes) and objects under exports/ that no row names.
 */
export async function sweepExports(em: EntityManager, storage: StorageBackend, { graceMs, now = Date.now() }: { graceMs: number; now?: number }): Promise<ExportSweepReport> {
  const report: ExportSweepReport = { expired: [], orphansRemoved: [] };
  for (const row of await em.find(ChestExport, { expiresAt: { $lt: new Date(now) } })) {
    if (row.storageKey) await storage.delete(row.storageKey);
    await em.nativeDelete(ChestExport, { id: row.id });
    report.expired.push(row.id);
  }
  for await (const obj of storage.list('exports/')) {
    if (obj.lastModified.getTime() >= now - graceMs) continue;
    if ((await em.count(ChestExport, { storageKey: obj.key })) === 0) {
      await storage.delete(obj.key);
      report.orphansRemoved.push(obj.key);
    }
  }
  return report;
}
