import { randomUUID } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { link, mkdir, open, opendir, stat as fsStat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { asReadable, chunkToBuffer } from './body.js';
import { type IoCounts, RunWriter } from './filesystem.run-writer.js';
import { concatParts } from './part-objects.js';
import {
  assertContiguousParts,
  assertValidKey,
  assertValidStaging,
  cappedPart,
  PART_NAME,
  partName,
  type OpenPartsOptions,
  type PartWriter,
  type PutPartOptions,
  type StagedPart,
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
  /** Write calls, bytes and fsyncs this backend asked of the disk, for tests that count them. */
  readonly io: IoCounts = { writes: 0, bytes: 0, fsyncs: 0 };

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
    // Fail fast rather than write a large body only to find the key taken; link() is the real guard.
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
          this.io.writes += 1;
        }
        this.io.bytes += bytes.length;
      }
      if (opts.size !== undefined && size !== opts.size) throw new SizeMismatchError(opts.size, size);
      await handle.sync();
      this.io.fsyncs += 1;
      await handle.close();
      handle = undefined;
      await this.linkInto(temp, key);
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

  /*
   * Staged parts, written once. The bytes go straight into a run file (<staging>run-…), appended
   * part after part while one writer follows another; each part, once its bytes are fsynced, gets
   * a marker (<staging>at-<offset>, a tiny JSON object written with put, so create-only and atomic)
   * saying which run holds it. Bytes past a run's last marker are a failed append's tail: never
   * read, cut off by the next append. composeParts hard-links a run that holds the whole object from
   * its first byte, so the original is the very file the bytes were written to.
   */

  async putPart(staging: string, at: number, body: NodeJS.ReadableStream | Readable, opts: PutPartOptions): Promise<StagedPart> {
    const writer = await this.openParts(staging, at, opts);
    try {
      for await (const bytes of cappedPart(asReadable(body), opts.maxSize, chunkToBuffer)) await writer.write(bytes);
      return await writer.endPart();
    } finally {
      // Closed before the promise settles: a caller that gives the run to the next writer knows this one is done.
      await writer.close();
    }
  }

  /**
   * The run stays open from part to part: bytes are written as they come (gathered into one writev
   * while a write is on its way), and a part, once ended, is fsynced and marked while the next
   * part's bytes go on into the run after it.
   */
  async openParts(staging: string, at: number, opts: OpenPartsOptions): Promise<PartWriter> {
    assertValidStaging(staging);
    assertValidSize(at);
    const marker = `${staging}${partName(at)}`;
    if (await this.stat(marker)) throw new ObjectExistsError(marker);
    const run = opts.run && opts.run !== OWN_OBJECT ? opts.run : newRunName(at);
    const start = runStart(run);
    const path = this.pathOf(`${staging}${run}`);
    let handle: FileHandle;
    if (run === opts.run) {
      handle = await open(path, 'r+').catch((err: unknown) => {
        if (isMissing(err)) throw new ObjectNotFoundError(`${staging}${run}`);
        throw err;
      });
    } else {
      await mkdir(dirname(path), { recursive: true });
      handle = await open(path, 'wx', 0o640);
    }
    try {
      const offset = at - start;
      const held = (await handle.stat()).size;
      // The run must hold every byte before `at`: anything else is a caller bug, never guessed around.
      if (offset < 0 || held < offset) throw new RangeError(`Run ${run} holds ${held} bytes, not the ${offset} before ${at}`);
      if (held > offset) await handle.truncate(offset);
    } catch (err) {
      await handle.close().catch(() => undefined);
      throw err;
    }
    return new RunWriter({
      handle,
      run,
      runStart: start,
      at,
      maxSize: opts.maxSize,
      io: this.io,
      stageMark: (part) => this.stageMarker(`${staging}${partName(part.at)}`, Buffer.from(JSON.stringify(part))),
    });
  }

  /**
   * A part's marker, written and fsynced where nothing reads it (a temp file in .staging), so that
   * its fsync can run beside the run's; placed at its key (create-only, as put) only after the
   * run's fsync, so a marker never outlives its bytes.
   */
  private async stageMarker(key: string, bytes: Buffer): Promise<{ place(): Promise<void>; discard(): Promise<void> }> {
    assertValidKey(key);
    await mkdir(this.staging, { recursive: true });
    const temp = join(this.staging, randomUUID());
    const discard = () => unlink(temp).catch(() => undefined);
    const handle = await open(temp, 'wx', 0o640);
    try {
      for (let done = 0; done < bytes.length; ) {
        done += (await handle.write(bytes, done, bytes.length - done, done)).bytesWritten;
        this.io.writes += 1;
      }
      this.io.bytes += bytes.length;
      await handle.sync();
      this.io.fsyncs += 1;
    } catch (err) {
      await handle.close().catch(() => undefined);
      await discard();
      throw err;
    }
    await handle.close();
    return {
      discard,
      place: async () => {
        try {
          await this.linkInto(temp, key);
        } finally {
          await discard();
        }
      },
    };
  }

  /** Gives a fsynced temp file its key: create-only (link fails on an existing one), and the new name made durable. */
  private async linkInto(temp: string, key: string): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    try {
      await link(temp, target);
    } catch (err) {
      if (errorCode(err) === 'EEXIST') throw new ObjectExistsError(key);
      throw err;
    }
    await this.syncDirectory(dirname(target));
  }

  async statPart(staging: string, at: number): Promise<StagedPart | null> {
    assertValidStaging(staging);
    return this.readMarker(`${staging}${partName(at)}`, at);
  }

  async listParts(staging: string): Promise<StagedPart[]> {
    assertValidStaging(staging);
    const parts: StagedPart[] = [];
    for await (const obj of this.list(staging)) {
      const m = PART_NAME.exec(obj.key.slice(staging.length));
      const part = m ? await this.readMarker(obj.key, Number(m[1])) : null;
      if (part) parts.push(part);
    }
    return parts;
  }

  async getPart(staging: string, part: StagedPart, range?: ByteRange): Promise<Readable> {
    assertValidStaging(staging);
    if (range) assertValidRange(range);
    if (part.run === OWN_OBJECT) return this.get(`${staging}${partName(part.at)}`, range);
    const base = part.at - runStart(part.run);
    const from = range?.start ?? 0;
    if (from >= part.size) throw new RangeError(`Range starts at ${from}, past the end of the part at ${part.at} (${part.size} bytes)`);
    const to = Math.min(range?.end ?? Infinity, part.size - 1);
    return this.get(`${staging}${part.run}`, { start: base + from, end: base + to });
  }

  async deletePart(staging: string, at: number): Promise<void> {
    assertValidStaging(staging);
    await this.delete(`${staging}${partName(at)}`);
  }

  async composeParts(staging: string, parts: StagedPart[], key: string, opts: { size: number; contentType?: string }): Promise<{ size: number; copied: number }> {
    assertValidStaging(staging);
    assertValidKey(key);
    const sorted = assertContiguousParts(parts, opts.size);
    const run = sorted[0]!.run;
    if (!(run !== OWN_OBJECT && sorted.every((p) => p.run === run) && runStart(run) === 0)) {
      // Parts in several runs (a writer's lease lapsed, or a part was adopted): copied once, the rare way.
      const { size } = await this.put(key, concatParts(sorted, (p) => this.getPart(staging, p)), opts);
      return { size, copied: size };
    }
    if (await this.stat(key)) throw new ObjectExistsError(key);
    const source = this.pathOf(`${staging}${run}`);
    const handle = await open(source, 'r+');
    try {
      // A failed append's tail past the last part is not part of the object.
      if ((await handle.stat()).size !== opts.size) await handle.truncate(opts.size);
      await handle.sync();
      this.io.fsyncs += 1;
    } finally {
      await handle.close().catch(() => undefined);
    }
    // The original is the run's own file under a second name.
    await this.linkInto(source, key);
    return { size: opts.size, copied: 0 };
  }

  private async readMarker(key: string, at: number): Promise<StagedPart | null> {
    const info = await this.stat(key);
    if (!info || info.size === 0) return null;
    // A part object of the release before runs (its bytes under the part's own name): still
    // readable and composable (copied), so uploads in flight across an upgrade finish.
    const legacy: StagedPart = { at, size: info.size, run: OWN_OBJECT };
    if (info.size > MAX_MARKER_BYTES) return legacy;
    let text = '';
    try {
      for await (const c of await this.get(key)) text += (c as Buffer).toString();
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
    return parseMarker(text, at) ?? legacy;
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

  /** Makes the new directory entry durable; skipped where directories cannot be opened (Windows). */
  private async syncDirectory(path: string): Promise<void> {
    let handle: FileHandle | undefined;
    try {
      handle = await open(path, 'r');
      await handle.sync();
      this.io.fsyncs += 1;
    } catch {
      // Best effort: the file itself is already fsynced.
    } finally {
      await handle?.close().catch(() => undefined);
    }
  }

  /** Keys are validated first, so this stays under root; the check is a second lock on the door. */
  private pathOf(key: string): string {
    const path = resolve(this.root, ...key.split('/'));
    if (!path.startsWith(this.root + sep)) throw new Error(`BUG: key "${key}" escaped the storage root`);
    return path;
  }
}

/** The run of a part kept as an object of its own (written by the release before runs). */
const OWN_OBJECT = '';
/** Markers are small JSON; anything larger under a part's name is a part object of its own. */
const MAX_MARKER_BYTES = 512;

/** A run file: `run-<offset of its first byte>-<random>`; its parts are back to back from there. */
const RUN_NAME = /^run-(\d{15})-[0-9a-f]{8}$/;
const newRunName = (at: number) => `run-${String(at).padStart(15, '0')}-${randomUUID().slice(0, 8)}`;

function runStart(run: string): number {
  const m = RUN_NAME.exec(run);
  if (!m) throw new RangeError(`Not a run of this backend: ${JSON.stringify(run.slice(0, 80))}`);
  return Number(m[1]);
}

/** What a part's marker records: where its bytes are. */
function parseMarker(text: string, at: number): StagedPart | null {
  try {
    const m = JSON.parse(text) as Partial<StagedPart>;
    if (m.at !== at || !Number.isSafeInteger(m.size) || m.size! <= 0 || typeof m.run !== 'string' || !RUN_NAME.test(m.run)) return null;
    return { at, size: m.size!, run: m.run };
  } catch {
    return null;
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
