import type { StorageBackend } from '../../storage/storage.port.js';

/**
 * Staging parts are named by the byte offset they start at, not by a counter: so the server can
 * always tell the part it was storing when it lost track (the one at the recorded offset) from
 * the parts the row counts (everything before it), and a resume never collides with a part that
 * was stored but never recorded.
 */
export const stagingPrefix = (uploadId: string) => `staging/uploads/${uploadId}/`;

/** 15 digits: offsets up to 999 TB sort as strings. */
export const partKey = (uploadId: string, start: number) => `${stagingPrefix(uploadId)}at-${String(start).padStart(15, '0')}`;

const PART_NAME = /^at-(\d{15})$/;

export interface StagedPart {
  key: string;
  start: number;
  size: number;
}

/**
 * The recorded parts, in order: the chain of objects from offset 0 to `receivedBytes`. Objects
 * off the chain (a part stored past the recorded offset, or one replaced by a resume) are ignored.
 * A missing link means staging lost bytes the row counts: an internal error, never guessed around.
 */
export async function recordedParts(storage: StorageBackend, upload: { id: string; receivedBytes: number }): Promise<StagedPart[]> {
  const byStart = new Map<number, StagedPart>();
  const prefix = stagingPrefix(upload.id);
  for await (const obj of storage.list(prefix)) {
    const m = PART_NAME.exec(obj.key.slice(prefix.length));
    if (m) byStart.set(Number(m[1]), { key: obj.key, start: Number(m[1]), size: obj.size });
  }
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
  const key = partKey(upload.id, upload.receivedBytes);
  const info = await storage.stat(key);
  if (!info) return null;
  if (info.size === 0 || info.size > Math.min(partSize, upload.size - upload.receivedBytes)) return 'unusable';
  return { key, start: upload.receivedBytes, size: info.size };
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
