import { createHash, type Hash } from 'node:crypto';

/**
 * The SHA-256 of each upload as its bytes arrived, kept in this process at the offset the row last
 * recorded, so the original is never read back to be hashed. Node's Hash cannot be saved and
 * loaded, so the state lives only here: an upload that moves to another process (a resume through
 * another API process, or after a crash) finds no state at its offset there, and is hashed once at
 * completion from storage instead (see finishUpload). Only a request that recorded a part (under
 * the lease, fenced) moves an entry on, and always to the row's new offset: an entry at offset n
 * is the hash of exactly the bytes the row counts up to n.
 */
const running = new Map<string, { offset: number; hash: Hash }>();

/** Uploads in flight at once in one process, far beyond any real load; the oldest go first. */
const MAX_ENTRIES = 1024;

/** A hash to go on from at `offset` (a fresh one at 0), or null when this process does not hold one. */
export function hashAt(uploadId: string, offset: number): Hash | null {
  if (offset === 0) return createHash('sha256');
  const entry = running.get(uploadId);
  return entry?.offset === offset ? entry.hash.copy() : null;
}

/** The hash of the bytes the row now counts, `offset` of them. */
export function recordHash(uploadId: string, offset: number, hash: Hash): void {
  running.delete(uploadId);
  running.set(uploadId, { offset, hash: hash.copy() });
  if (running.size > MAX_ENTRIES) running.delete(running.keys().next().value!);
}

export function forgetHash(uploadId: string): void {
  running.delete(uploadId);
}
