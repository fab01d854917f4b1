import type { Database } from '../db/database.js';
import type { StorageBackend } from '../storage/storage.port.js';

export interface Readiness {
  ok: boolean;
  database: boolean;
  storage: boolean;
}

/** Ready when the database and the file storage both answer within the timeout. */
export async function readiness(db: Database, storage: StorageBackend, timeoutMs = 2000): Promise<Readiness> {
  const [database, files] = await Promise.all([db.ping(timeoutMs), storageAnswers(storage, timeoutMs)]);
  return { ok: database && files, database, storage: files };
}

/** Storage answers when a stat of a key that never exists comes back (with "no such object") in time. */
async function storageAnswers(storage: StorageBackend, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const probe = storage.stat('readyz/probe').then(
    () => true,
    () => false,
  );
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
