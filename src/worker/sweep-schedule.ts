import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import { sweep } from '../domain/upload/sweeper.js';
import { sweepExports } from '../domain/export/export-sweep.js';
import { sweepImportArchives } from '../domain/import/import-sweep.js';
import type { Logger } from '../logger.js';
import { recordSweep } from '../metrics/jobs.js';
import type { StorageBackend } from '../storage/storage.port.js';

export interface SweepOnceInput {
  config: Pick<Config, 'eventRetentionMs'>;
  db: Database;
  storage: StorageBackend;
  log: Logger;
}

/** One sweep: its result logged and recorded in the metrics; never rejects. */
export function sweepOnce({ config, db, storage, log }: SweepOnceInput): Promise<void> {
  return sweep(db.orm.em.fork(), storage, { graceMs: 86_400_000, eventRetentionMs: config.eventRetentionMs }).then(
    (report) => {
      recordSweep({ report });
      if (report.missingObjects.length) log.error({ missing: report.missingObjects }, 'memories whose files are missing from storage');
      log.info(
        {
          staging: report.stagingRemoved.length,
          orphans: report.orphansRemoved.length,
          derivatives: report.derivativesRemoved.length,
          expired: report.expiredUploads.length,
          eventsPruned: report.eventsPruned,
          rateLimitsPruned: report.rateLimitsPruned,
        },
        'storage sweep',
      );
    },
    (err: unknown) => {
      recordSweep({});
      log.error({ err }, 'storage sweep failed');
    },
  )
    // Chest archives past their expiry, and archive objects no row names (domain/export).
    .then(async () => {
      const exports = await sweepExports(db.orm.em.fork(), storage, { graceMs: 86_400_000 });
      // Archives uploaded for importChest and never imported (domain/import).
      const archives = await sweepImportArchives(db.orm.em.fork(), storage, { graceMs: 86_400_000 });
      if (exports.expired.length || exports.orphansRemoved.length || archives.length) {
        log.info({ expired: exports.expired.length, orphans: exports.orphansRemoved.length, importArchives: archives.length }, 'export and import sweep');
      }
    })
    .catch((err: unknown) => log.error({ err }, 'export sweep failed'))
    .then(() => undefined);
}

/**
 * Removes abandoned uploads' parts and orphaned originals, and reports rows whose file is
 * missing. A day's grace covers any upload still being finished. Safe from every process.
 */
export function startSweeper(config: Config, db: Database, storage: StorageBackend, log: Logger): NodeJS.Timeout | undefined {
  if (!config.sweepIntervalMs) return undefined;
  const timer = setInterval(() => void sweepOnce({ config, db, storage, log }), config.sweepIntervalMs);
  timer.unref();
  return timer;
}
