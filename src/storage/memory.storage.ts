import { Readable } from 'node:stream';
import { asReadable, chunkToBuffer } from './body.js';
import { PartObjects } from './part-objects.js';
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

interface StoredObject {
  bytes: Buffer;
  lastModified: Date;
  contentType?: string;
}

/**
 * Objects in a Map, for the fast test tier and throwaway dev runs (STORAGE_DRIVER=memory): nothing
 * survives the process, and every object is held in RAM, so never for a family's files. It keeps the
 * port's promises like the real backends (test/storage/memory.storage.test.ts runs the contract):
 * a put becomes visible only when its body has ended at the declared size, and a key is claimed at
 * the end, so two concurrent puts of a key cannot both win. Presigned URLs are null (the API streams).
 */
export class MemoryStorage implements StorageBackend {
  readonly kind = 'memory' as const;
  private readonly objects = new Map<string, StoredObject>();

  // Staged parts as objects of their own, composed by copying (part-objects.ts).
  private readonly staged = new PartObjects(this);
  putPart: StorageBackend['putPart'] = (...args) => this.staged.putPart(...args);
  statPart: StorageBackend['statPart'] = (...args) => this.staged.statPart(...args);
  listParts: StorageBackend['listParts'] = (...args) => this.staged.listParts(...args);
  getPart: StorageBackend['getPart'] = (...args) => this.staged.getPart(...args);
  deletePart: StorageBackend['deletePart'] = (...args) => this.staged.deletePart(...args);
  composeParts: StorageBackend['composeParts'] = (...args) => this.staged.composeParts(...args);

  async put(key: string, body: NodeJS.ReadableStream | Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key);
    assertValidSize(opts.size);
    if (this.objects.has(key)) throw new ObjectExistsError(key);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of asReadable(body)) {
      const bytes = chunkToBuffer(chunk);
      size += bytes.length;
      if (opts.size !== undefined && size > opts.size) throw new SizeMismatchError(opts.size, size);
      // Copied: a caller may reuse its buffer after the stream moves on.
      chunks.push(Buffer.from(bytes));
    }
    if (opts.size !== undefined && size !== opts.size) throw new SizeMismatchError(opts.size, size);
    // Checked again: another put of the key may have finished while this body streamed.
    if (this.objects.has(key)) throw new ObjectExistsError(key);
    this.objects.set(key, { bytes: Buffer.concat(chunks, size), lastModified: new Date(), ...(opts.contentType ? { contentType: opts.contentType } : {}) });
    return { size };
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range) assertValidRange(range);
    const object = this.objects.get(key);
    if (!object) throw new ObjectNotFoundError(key);
    const { bytes } = object;
    if (!range) return Readable.from([bytes]);
    if (range.start >= bytes.length && !(range.start === 0 && range.end === undefined)) {
      throw new RangeError(`Range starts at ${range.start}, past the end of "${key}" (${bytes.length} bytes)`);
    }
    return Readable.from([bytes.subarray(range.start, Math.min(range.end ?? Infinity, bytes.length - 1) + 1)]);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    const object = this.objects.get(key);
    return object ? info(key, object) : null;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    this.objects.delete(key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    // A snapshot: the sweeper may delete while it lists.
    for (const [key, object] of [...this.objects]) if (key.startsWith(prefix)) yield info(key, object);
  }

  async presignedGetUrl(key: string, ttlSeconds: number): Promise<string | null> {
    assertValidKey(key);
    assertValidTtl(ttlSeconds);
    return null;
  }
}

function info(key: string, object: StoredObject): ObjectInfo {
  return { key, size: object.bytes.length, lastModified: object.lastModified, ...(object.contentType ? { contentType: object.contentType } : {}) };
}
