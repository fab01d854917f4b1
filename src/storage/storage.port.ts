import type { Readable } from 'node:stream';

/**
 * The object-storage port: where original files and derivatives live. The database holds the
 * metadata (owner, mime type, checksums) and the storage key; a backend only stores bytes.
 * Two backends implement it: the filesystem (single-box installs) and S3/MinIO (served mode); a
 * third, in memory, serves the fast test tier. All pass the same contract suite (test/storage/storage.contract.ts).
 */

export interface ObjectInfo {
  key: string;
  size: number;
  lastModified: Date;
  /** Only what the backend keeps itself (S3 does, the filesystem does not); the database is authoritative. */
  contentType?: string;
}

/** Inclusive byte offsets, like HTTP Range: `{ start: 0, end: 0 }` is the first byte; no `end` = to the end. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface PutOptions {
  contentType?: string;
  /**
   * The expected length, when the caller knows it. A body of another length rejects and stores
   * nothing, so a truncated upload can never become an object.
   */
  size?: number;
}

/**
 * One part of a staged object (an upload on its way in): the bytes from `at` of the object being
 * assembled, `size` of them. `run` names where the backend keeps the part: parts written one after
 * the other into one run sit back to back (the filesystem appends them to one file), so an object
 * made of one run from its start needs no copy.
 */
export interface StagedPart {
  at: number;
  size: number;
  run: string;
}

export interface PutPartOptions {
  /**
   * The run of the part just before `at`, to append to; null starts a new run. Only pass a run when
   * no earlier writer can still be writing into it (one whose lease lapsed may be: pass null then).
   */
  run: string | null;
  /** The most bytes the part may hold: a longer body rejects with SizeMismatchError and stores no part. */
  maxSize: number;
}

/**
 * Parts written back to back by one writer without stopping between them (StorageBackend.openParts,
 * or openPartWriter for any backend). The caller ends each part; the bytes of the next one may be
 * written while the previous part is still being made durable.
 */
export interface PartWriter {
  /**
   * Appends bytes to the part being written (the first write after endPart starts the next part,
   * right after it). Resolves when there is room for more: awaiting it is the backpressure. The
   * writer may hold `chunk` until it is written: do not change it. Rejects once the writer failed.
   */
  write(chunk: Buffer): Promise<void>;
  /**
   * Ends the part being written (at least one byte). Resolves once it is durable and
   * statPart/listParts report it, as putPart's would; rejects when it is not stored. Call it again
   * only after the previous one settled, so at most one part is ever stored but not yet recorded.
   */
  endPart(): Promise<StagedPart>;
  /**
   * Stops: a part not ended is not stored (its bytes are a run's tail). Resolves once this writer
   * writes nothing more, so its run may be given to the next writer. Idempotent.
   */
  close(): Promise<void>;
}

export interface OpenPartsOptions {
  /** As in putPart: the run to append to (the part before `at` is its last), or null for a new run. */
  run: string | null;
  /** The most bytes one part may hold (a longer part rejects with SizeMismatchError). */
  maxSize: number;
}

export interface StorageBackend {
  /** 'memory' is for tests and throwaway dev runs only (memory.storage.ts). */
  readonly kind: 'filesystem' | 's3' | 'memory';

  /**
   * Streams body into key. Never overwrites: rejects with ObjectExistsError if key exists
   * (keys are generated, so an existing key means a bug or a replay, never an update).
   * Memory stays flat whatever the size. All or nothing: if the body errors, or its length differs
   * from `opts.size`, no object appears at key and the key can be written again.
   * On rejection the caller still owns body (it may be partly read) and should destroy it.
   */
  put(key: string, body: NodeJS.ReadableStream | Readable, opts?: PutOptions): Promise<{ size: number }>;

  /**
   * Reads an object or a byte range of it. Rejects with ObjectNotFoundError, or with RangeError when
   * the range starts at or past the end of the object (HTTP 416). An `end` past the object is clamped.
   */
  get(key: string, range?: ByteRange): Promise<Readable>;

  /** null when there is no object at key. */
  stat(key: string): Promise<ObjectInfo | null>;

  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;

  /**
   * Every object whose key starts with prefix (for the consistency sweeper), in no particular order.
   * The prefix follows the key rules but may be empty or end with "/".
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;

  /**
   * A short-lived direct GET URL (S3 presigned, with response-content-disposition when filename is
   * given), or null when the API must stream the object itself (filesystem). Presigning is local
   * computation: it does not check that the object exists.
   */
  presignedGetUrl(key: string, ttlSeconds: number, opts?: { filename?: string; contentType?: string }): Promise<string | null>;

  /*
   * Staged objects (uploads): bytes that arrive over time, through any process, stored once as parts
   * under `staging` (a prefix ending in "/" that holds nothing else), then made into an ordinary
   * object by composeParts. What the parts are stored as is the backend's business; list and delete
   * of the prefix see those objects, so removing an upload's staging is deleting its prefix.
   */

  /**
   * Stores body as the part at `at`. All or nothing: once it resolves the part is durable and
   * listParts/statPart report it; if it rejects, no part is at `at` (bytes a run holds past its last
   * part are never read and are cut off by the next append). ObjectExistsError if a part is at `at`.
   */
  putPart(staging: string, at: number, body: NodeJS.ReadableStream | Readable, opts: PutPartOptions): Promise<StagedPart>;

  /**
   * Parts from `at` on, as putPart would store them one after another, but through one writer that
   * stays open between them (the filesystem keeps its run file open and writes the next part while
   * the last one is fsynced). Optional: openPartWriter gives any backend a writer made of putParts.
   * ObjectExistsError if a part is at `at`.
   */
  openParts?(staging: string, at: number, opts: OpenPartsOptions): Promise<PartWriter>;

  /** The part at `at`, or null. */
  statPart(staging: string, at: number): Promise<StagedPart | null>;

  /** Every part under staging, in no particular order. */
  listParts(staging: string): Promise<StagedPart[]>;

  /**
   * The bytes of one part, or a range of them (offsets within the part, inclusive as in get).
   * On S3 a part that went up as a multipart part can be read only in its first 64 KiB (its
   * marker's copy) until it has been composed: enough to sniff a file type, which is what uploads
   * read; past that it rejects.
   */
  getPart(staging: string, part: StagedPart, range?: ByteRange): Promise<Readable>;

  /** Forgets the part at `at` (its bytes are overwritten or deleted later). Idempotent. */
  deletePart(staging: string, at: number): Promise<void>;

  /**
   * Makes `key` an object of the parts' bytes, in order: they must run from 0 without gaps to
   * `opts.size`. Create-only like put. When the parts are one run from its start, the object is
   * made without the app copying a byte (filesystem: a hard link to the run; S3: the server
   * completes the run's multipart upload and copies it, and only a last part too small to be a
   * multipart part is sent again); otherwise the bytes are copied. `copied` is the bytes the app
   * wrote again. The parts stay until the prefix is deleted, so a failure after this can compose again.
   */
  composeParts(staging: string, parts: StagedPart[], key: string, opts: { size: number; contentType?: string }): Promise<{ size: number; copied: number }>;
}

/** Checks what composeParts needs of its parts: contiguous from 0 to size, none empty. Returns them in order. */
export function assertContiguousParts(parts: StagedPart[], size: number): StagedPart[] {
  const sorted = [...parts].sort((a, b) => a.at - b.at);
  let at = 0;
  for (const part of sorted) {
    if (part.at !== at || part.size <= 0) throw new RangeError(`Parts must run from 0 without gaps: expected one at ${at}, got ${part.at} (${part.size} bytes)`);
    at += part.size;
  }
  if (at !== size) throw new SizeMismatchError(size, at);
  return sorted;
}

/** A staging prefix: a valid non-empty prefix ending in "/". */
export function assertValidStaging(staging: string): void {
  assertValidPrefix(staging);
  if (!staging.endsWith('/') || staging === '/') throw new InvalidKeyError(staging, 'a staging prefix must be non-empty and end with "/"');
}

/** Part names: the start offset, 15 digits so that offsets up to 999 TB sort as strings. */
export const partName = (at: number) => `at-${String(at).padStart(15, '0')}`;
export const PART_NAME = /^at-(\d{15})$/;

/**
 * Caps a part's body at maxSize bytes (SizeMismatchError past it) and refuses an empty one, as
 * every backend's putPart must.
 */
export async function* cappedPart(body: AsyncIterable<unknown>, maxSize: number, toBuffer: (c: unknown) => Buffer): AsyncGenerator<Buffer> {
  let size = 0;
  for await (const chunk of body) {
    const bytes = toBuffer(chunk);
    size += bytes.length;
    if (size > maxSize) throw new SizeMismatchError(maxSize, size);
    if (bytes.length) yield bytes;
  }
  if (size === 0) throw new SizeMismatchError(maxSize, 0);
}

export class ObjectExistsError extends Error {
  constructor(readonly key: string) {
    super(`An object already exists at "${key}"`);
    this.name = 'ObjectExistsError';
  }
}

export class ObjectNotFoundError extends Error {
  constructor(readonly key: string) {
    super(`No object at "${key}"`);
    this.name = 'ObjectNotFoundError';
  }
}

/**
 * The storage server could not be reached or answered that it cannot serve now (connection refused
 * or reset, a 5xx): the operation may succeed if tried again. `cause` is the backend's own error.
 */
export class StorageUnavailableError extends Error {
  constructor(
    readonly operation: string,
    options: { cause: unknown },
  ) {
    super(`Storage unavailable during ${operation}`, options);
    this.name = 'StorageUnavailableError';
  }
}

/**
 * Parts the staging held are gone from the storage server (S3: the multipart upload holding them
 * expired or was aborted), so they can neither take more parts nor be composed.
 */
export class StagedPartsLostError extends Error {
  constructor(
    readonly staging: string,
    options: { cause: unknown },
  ) {
    super(`The storage server no longer holds parts staged under "${staging}"`, options);
    this.name = 'StagedPartsLostError';
  }
}

export class InvalidKeyError extends Error {
  constructor(
    readonly key: string,
    reason: string,
  ) {
    // The key is cut short: it may be a 100 KB attack string.
    super(`Invalid storage key ${JSON.stringify(key.slice(0, 80))}: ${reason}`);
    this.name = 'InvalidKeyError';
  }
}

export const MAX_KEY_LENGTH = 512;
/** NAME_MAX of common filesystems: a longer segment could not be a file name. */
export const MAX_SEGMENT_LENGTH = 255;

const KEY_CHARS = /^[A-Za-z0-9/_.-]*$/;

/**
 * Keys are generated by the app ("chests/<uuid>/originals/<uuid>"), so the rules can be strict:
 * a key that breaks them is a bug or an attack, and on the filesystem the rules are what makes
 * path traversal impossible (no "..", no absolute path, no separators other than "/").
 * Segments may not start with "." either: that keeps ".", "..", hidden files and the filesystem
 * backend's own ".staging" folder out of the key space. At most 512 characters in all and 255 per
 * segment, so that every valid key is also a valid path.
 */
export function assertValidKey(key: string): void {
  const reason = keyProblem(key, false);
  if (reason) throw new InvalidKeyError(key, reason);
}

/** The same rules for a list prefix, which may also be empty or end with "/". */
export function assertValidPrefix(prefix: string): void {
  const reason = keyProblem(prefix, true);
  if (reason) throw new InvalidKeyError(prefix, reason);
}

function keyProblem(key: string, isPrefix: boolean): string | null {
  if (typeof key !== 'string') return 'not a string';
  if (key.length > MAX_KEY_LENGTH) return `longer than ${MAX_KEY_LENGTH} characters`;
  if (key === '') return isPrefix ? null : 'empty';
  if (!KEY_CHARS.test(key)) return 'only A-Z a-z 0-9 / _ . - are allowed';
  if (key.startsWith('/')) return 'must not start with "/"';
  if (key.includes('..')) return 'must not contain ".."';
  const segments = key.split('/');
  // A prefix may end with "/" (the last, empty segment); a key may not.
  const checked = isPrefix && key.endsWith('/') ? segments.slice(0, -1) : segments;
  for (const segment of checked) {
    if (segment === '') return 'empty path segment';
    if (segment.startsWith('.')) return 'a segment must not start with "."';
    if (segment.length > MAX_SEGMENT_LENGTH) return `a segment is longer than ${MAX_SEGMENT_LENGTH} characters`;
  }
  return null;
}

/** Rejects malformed ranges before any I/O; "past the end" needs the size and is checked by the backend. */
export function assertValidRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new RangeError(`Range start must be a non-negative integer, got ${start}`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new RangeError(`Range end must be an integer >= start (${start}), got ${end}`);
  }
}

/** A presigned URL may live at most 7 days (the SigV4 limit); anything else is a caller bug. */
export function assertValidTtl(ttlSeconds: number): void {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > 604_800) {
    throw new RangeError(`ttlSeconds must be an integer from 1 to 604800, got ${ttlSeconds}`);
  }
}

export function assertValidSize(size: number | undefined): void {
  if (size !== undefined && (!Number.isSafeInteger(size) || size < 0)) {
    throw new RangeError(`size must be a non-negative integer, got ${size}`);
  }
}

/**
 * The body's length differs from the `size` the caller declared; nothing was stored. `actual` is
 * what had been read when the difference showed (a longer body is refused as soon as it overflows).
 */
export class SizeMismatchError extends Error {
  constructor(
    readonly expected: number,
    readonly actual: number,
  ) {
    super(`Body length ${actual} differs from the declared size ${expected}; nothing was stored`);
    this.name = 'SizeMismatchError';
  }
}
