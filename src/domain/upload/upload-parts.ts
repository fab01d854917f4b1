import type { StagedPart, StorageBackend } from '../../storage/storage.port.js';

/**
 * An upload's staging: the parts its PATCHes stored, under one prefix, through the storage port's
 * staged-object calls (putPart … composeParts). Parts are named by the byte offset they start at,
 * not by a counter: so the server can always tell the part it was storing when it lost track (the
 * one at the recorded offset) from the parts the row counts (everything before it), and a resume
 * never collides with a part that was stored but never recorded.
 */
export const stagingPrefix = (uploadId: string) => `staging/uploads/${uploadId}/`;

/**
 * The recorded parts, in order: the chain from offset 0 to `receivedBytes`. Parts off the chain
 * (one stored past the recorded offset) are ignored. A missing link means staging lost bytes the
 * row counts: an internal error, never guessed around.
 */
export async function recordedParts(storage: StorageBackend, upload: { id: string; receivedBytes: number }): Promise<StagedPart[]> {
  const byStart = new Map<number, StagedPart>();
  for (const part of await storage.listParts(stagingPrefix(upload.id))) byStart.set(part.at, part);
  const chain: StagedPart[] = [];
  for (let at = 0; at < upload.receivedBytes; ) {
    const part = byStart.get(at);
    if (!part || part.size === 0 || at + part.size > upload.receivedBytes) throw new Error(`Upload ${upload.id}: no staged part for the bytes from ${at}`);
    chain.push(part);
    at += part.size;
  }
  return chain;
}

/**
 * The part stored at the recorded offset but not counted by the row (the request died between
 * the two), if it is one this upload could have written: not empty, within the declared size and
 * one part at most. null when there is none.
 */
export async function unrecordedPart(
  storage: StorageBackend,
  upload: { id: string; receivedBytes: number; size: number },
  partSize: number,
): Promise<StagedPart | 'unusable' | null> {
  const part = await storage.statPart(stagingPrefix(upload.id), upload.receivedBytes);
  if (!part) return null;
  if (part.size === 0 || part.size > Math.min(partSize, upload.size - upload.receivedBytes)) return 'unusable';
  return part;
}

/** Every staging object of the upload, recorded or not. Best effort: the sweeper removes whatever is left. */
export async function deleteStaging(storage: StorageBackend, uploadId: string): Promise<void> {
  const keys: string[] = [];
  try {
    for await (const obj of storage.list(stagingPrefix(uploadId))) keys.push(obj.key);
  } catch {
    // listing failed: the sweeper will find them
  }
  for (const key of keys) await storage.delete(key).catch(() => undefined);
}
