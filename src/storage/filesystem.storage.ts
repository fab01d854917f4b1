import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { link, mkdir, open, opendir, stat as fsStat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { asReadable, chunkToBuffer } from './body.js';
import {
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  assertValidSize,
  assertValidTtl,
  ObjectExistsError,
  ObjectNotFoundError,
  SizeMismatchError,
  type ByteRange,
  type ObjectInfo,
  type PutOptions,
  type StorageBackend,
} from './storage.port.js';

/** Where puts write before they are linked into place; same filesystem as the objects, never listed. */
export const STAGING_DIR = '.staging';

/**
 * Objects as files under a root directory: key "a/b/c" is the file <root>/a/b/c.
 *
 * A put writes a temp file in <root>/.staging, fsyncs it and then hard-links it to its key.
 * link(2) is atomic and fails with EEXIST when the target exists, so: a reader sees a whole object
 * or none, two concurrent puts of a key cannot both win, and a crash mid-write leaves only a temp
 * file in .staging (never a partial object). Anything in .staging older than a running put is
 * garbage that `sweepStaging` may remove.
 *
 * The filesystem keeps no content type (the database has it). Directories emptied by delete stay
 * (harmless, and removing them would race with a concurrent put into them). Keys are case
 * sensitive: on a case-insensitive filesystem (macOS default) two keys differing only by case
 * would collide; the app's keys are lower-case UUIDs.
 */
export class FilesystemStorage implements StorageBackend {
  readonly kind = 'filesystem' as const;
  readonly root: string;
  private readonly staging: string;

  constructor(root: string) {
    this.root = resolve(root);
    this.staging = join(this.root, STAGING_DIR);
  }

  /** Creates the root and staging folders; called by createStorage. */
  async init(): Promise<this> {
    await mkdir(this.staging, { recursive: true });
    return this;
  }

  async put(key: string, body: NodeJS.ReadableStream | Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key);
    assertValidSize(opts.size);
    const target = this.pathOf(key);
    // Fail fast rather than write a large body only to find the key taken; link() below is the real guard.
    if (await this.stat(key)) throw new ObjectExistsError(key);

    await mkdir(this.staging, { recursive: true });
    const temp = join(this.staging, randomUUID());
    let handle: FileHandle | undefined = await open(temp, 'wx', 0o640);
    try {
      let size = 0;
      for await (const chunk of asReadable(body)) {
        const bytes = chunkToBuffer(chunk);
        size += bytes.length;
        if (opts.size !== undefined && size > opts.size) throw new SizeMismatchError(opts.size, size);
        // One chunk at a time: awaiting the write is the backpressure, so memory stays flat.
        for (let offset = 0; offset < bytes.length; ) {
          offset += (await handle.write(bytes, offset)).bytesWritten;
        }
      }
      if (opts.size !== undefined && size !== opts.size) throw new SizeMismatchError(opts.size, size);
      await handle.sync();
      await handle.close();
      handle = undefined;

      await mkdir(dirname(target), { recursive: true });
      try {
        await link(temp, target);
      } catch (err) {
        if (errorCode(err) === 'EEXIST') throw new ObjectExistsError(key);
        throw err;
      }
      await syncDirectory(dirname(target));
      return { size };
    } finally {
      await handle?.close().catch(() => undefined);
      await unlink(temp).catch(() => undefined);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range) assertValidRange(range);
    let handle: FileHandle;
    try {
      // Opened before returning, so a missing key rejects here rather than as a stream error.
      handle = await open(this.pathOf(key), 'r');
    } catch (err) {
      if (isMissing(err)) throw new ObjectNotFoundError(key);
      throw err;
    }
    try {
      const info = await handle.stat();
      if (!info.isFile()) throw new ObjectNotFoundError(key);
      if (!range || (range.start === 0 && range.end === undefined)) return handle.createReadStream();
      if (range.start >= info.size) {
        throw new RangeError(`Range starts at ${range.start}, past the end of "${key}" (${info.size} bytes)`);
      }
      // The stream owns the handle from here (autoClose).
      return handle.createReadStream({ start: range.start, end: Math.min(range.end ?? Infinity, info.size - 1) });
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const info = await fsStat(this.pathOf(key));
      if (!info.isFile()) return null;
      return { key, size: info.size, lastModified: info.mtime };
    } catch (err) {
      if (isMissing(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    try {
      await unlink(this.pathOf(key));
    } catch (err) {
      // EISDIR/EPERM: the key names a directory (a prefix of other keys), not an object.
      if (isMissing(err) || errorCode(err) === 'EISDIR' || errorCode(err) === 'EPERM') return;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    yield* this.walk(this.root, '', prefix);
  }

  async presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null> {
    assertValidKey(key);
    assertValidTtl(ttlSeconds);
    return null;
  }

  /**
   * Removes staging files older than `olderThanMs` (left by crashes or killed processes).
   * Use an age well above the longest upload, since a running put's temp file lives there too.
   */
  async sweepStaging(olderThanMs: number): Promise<number> {
    let removed = 0;
    const cutoff = Date.now() - olderThanMs;
    let dir;
    try {
      dir = await opendir(this.staging);
    } catch (err) {
      if (isMissing(err)) return 0;
      throw err;
    }
    for await (const entry of dir) {
      const path = join(this.staging, entry.name);
      const info = await fsStat(path).catch(() => null);
      if (info?.isFile() && info.mtimeMs < cutoff) {
        await unlink(path).catch(() => undefined);
        removed++;
      }
    }
    return removed;
  }

  /** Depth-first, entering only directories that can hold keys with the prefix. */
  private async *walk(dirPath: string, dirKey: string, prefix: string): AsyncGenerator<ObjectInfo> {
    let dir;
    try {
      dir = await opendir(dirPath);
    } catch (err) {
      if (isMissing(err)) return;
      throw err;
    }
    for await (const entry of dir) {
      if (dirKey === '' && entry.name === STAGING_DIR) continue;
      const key = dirKey + entry.name;
      if (entry.isDirectory()) {
        const asPrefix = `${key}/`;
        if (asPrefix.startsWith(prefix) || prefix.startsWith(asPrefix)) {
          yield* this.walk(join(dirPath, entry.name), asPrefix, prefix);
        }
      } else if (entry.isFile() && key.startsWith(prefix)) {
        const info = await fsStat(join(dirPath, entry.name)).catch((err: unknown) => {
          if (isMissing(err)) return null; // deleted while we walked
          throw err;
        });
        if (info) yield { key, size: info.size, lastModified: info.mtime };
      }
    }
  }

  /** Keys are validated first, so this stays under root; the check is a second lock on the door. */
  private pathOf(key: string): string {
    const path = resolve(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep)) throw new Error(`BUG: key "${key}" escaped the storage root`);
    return path;
  }
}

/** Makes the new directory entry durable; skipped where directories cannot be opened (Windows). */
async function syncDirectory(path: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(path, 'r');
    await handle.sync();
  } catch {
    // Best effort: the file itself is already fsynced.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** ENOTDIR: a parent of the path is a file, so nothing can be at the path. */
function isMissing(err: unknown): boolean {
  const code = errorCode(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}
