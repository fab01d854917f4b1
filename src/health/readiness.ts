import type { Database } from '../db/database.js';
import type { StorageBackend } from '../storage/storage.port.js';

export interface Readiness {
  ok: boolean;
  database: boolean;
  storage: boolean;
}

/**
 * Ready when the database and the file storage both answer within the timeout: a dependency that
 * hangs must make readiness fail, not hang with it. Storage answers when a stat of a key that never
 * exists comes back (with "no such object").
 */
export async function readiness(db: Database, storage: StorageBackend, timeoutMs = 2000): Promise<Readiness> {
  const stat = storage.stat('readyz/probe').then(
    () => true,
    () => false,
  );
  const [database, files] = await Promise.all([within(db.ping(), timeoutMs), within(stat, timeoutMs)]);
  return { ok: database && files, database, storage: files };
}

/** The probe's answer, or false once the time is up. */
async function within(probe: Promise<boolean>, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([probe, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
