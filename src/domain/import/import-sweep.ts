import type { EntityManager } from '@mikro-orm/postgresql';
import { ChestImport } from '../../db/entities/index.js';
import { ImportStatus } from '../../db/enums.js';
import type { StorageBackend } from '../../storage/storage.port.js';

/**
 * Archives uploaded for an import that never ran (or whose import ended without removing them):
 * an imports/<upload>.zip older than the grace period with no import QUEUED or RUNNING on it is
 * deleted. Imports delete their archive themselves when DONE or FAILED.
 */
export async function sweepImportArchives(em: EntityManager, storage: StorageBackend, { graceMs, now = Date.now() }: { graceMs: number; now?: number }): Promise<string[]> {
  const removed: string[] = [];
  for await (const obj of storage.list('imports/')) {
    if (obj.lastModified.getTime() >= now - graceMs) continue;
    const uploadId = /^imports\/([0-9a-f-]{36})\.zip$/.exec(obj.key)?.[1];
    const reading = uploadId ? await em.count(ChestImport, { upload: uploadId, status: { $in: [ImportStatus.QUEUED, ImportStatus.RUNNING] } }) : 0;
    if (reading === 0) {
      await storage.delete(obj.key);
      removed.push(obj.key);
    }
  }
  return removed;
}
