import { createHash } from 'node:crypto';
import { pipeline, Transform, type Readable } from 'node:stream';
import type { BucketItem, Client } from 'minio';
import { asReadable, chunkToBuffer } from './body.js';
import { abortUpload, isNotFound, s3Code } from './s3.calls.js';
import { RUN_INFO_NAME, S3Parts } from './s3.parts.js';
import { contentDisposition } from './content-disposition.js';
import {
  assertValidKey,
  assertValidPrefix,
  assertValidRange,
  assertValidSize,
  assertValidTtl,
  ObjectExistsError,
  ObjectNotFoundError,
  SizeMismatchError,
  StorageUnavailableError,
  type ByteRange,
  type ObjectInfo,
  type PutOptions,
  type StorageBackend,
} from './storage.port.js';
import { isS3Unavailable, unavailableAs } from './unavailable.js';

/**
 * Objects in one S3 bucket (MinIO in production, s3rver in tests) through the `minio` client.
 *
 * Uploads. S3 needs a length for every request, so a stream is cut into parts of `client.partSize`
 * bytes (64 MiB by default; at least 5 MiB, the S3 minimum): a body that fits in one part goes up
 * in a single PUT, a longer one as a multipart upload, one part in memory at a time. Memory per put
 * is therefore bounded by the part size, whatever the object size (and objects can reach 10,000
 * parts). We drive the multipart calls ourselves instead of `client.putObject(stream)` because
 * putObject first calls ListMultipartUploads to resume an earlier upload of the same key (which
 * s3rver does not implement, and which makes no sense for create-only keys), buffers a whole
 * object up to the part size anyway, and with an unknown size picks ~528 MiB parts.
 * A failed multipart upload is aborted (best effort: s3rver cannot abort; on MinIO/S3 set a bucket
 * lifecycle rule "AbortIncompleteMultipartUpload" to collect what a crash leaves).
 *
 * Staged uploads (putPart … composeParts) are multipart uploads of their own: s3.parts.ts.
 *
 * No overwrite. S3 has no portable create-only put, so: statObject first (a fast, clear rejection),
 * then `If-None-Match: *` on the single PUT, which MinIO (2024+) and AWS S3 honour with 412 (mapped
 * to ObjectExistsError), and a second stat just before completing a multipart upload. A server that
 * ignores If-None-Match (s3rver, old MinIO) leaves a race between the stat and the write in which two
 * concurrent puts of one key both succeed and the last one wins; keys are random UUIDs, so only a
 * bug could get there. The filesystem backend has no such window.
 *
 * Outages. Every call to the server goes through unavailableAs: a refused or reset connection or a
 * 5xx becomes StorageUnavailableError (503 to clients), whereas a failure of the body being read
 * (a client that went away) stays what it is. A server that answers nothing is given up on after
 * the configured silence (timed-transport.ts, STORAGE_TIMEOUT_SECONDS), which counts as unavailable.
 */
export class S3Storage implements StorageBackend {
  readonly kind = 's3' as const;

  constructor(
    readonly client: Client,
    readonly bucket: string,
  ) {}

  // Staged parts as multipart uploads, composed by the server (s3.parts.ts).
  private readonly staged = new S3Parts(this.client, this.bucket, this);
  putPart: StorageBackend['putPart'] = (...args) => this.staged.putPart(...args);
  openParts: NonNullable<StorageBackend['openParts']> = (...args) => this.staged.openParts(...args);
  statPart: StorageBackend['statPart'] = (...args) => this.staged.statPart(...args);
  listParts: StorageBackend['listParts'] = (...args) => this.staged.listParts(...args);
  getPart: StorageBackend['getPart'] = (...args) => this.staged.getPart(...args);
  deletePart: StorageBackend['deletePart'] = (...args) => this.staged.deletePart(...args);
  composeParts: StorageBackend['composeParts'] = (...args) => this.staged.composeParts(...args);

  async put(key: string, body: NodeJS.ReadableStream | Readable, opts: PutOptions = {}): Promise<{ size: number }> {
    assertValidKey(key);
    assertValidSize(opts.size);
    if (await this.stat(key)) throw new ObjectExistsError(key);

    const partSize = this.client.partSize;
    const contentType = opts.contentType ?? 'application/octet-stream';
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let size = 0;
    let multipart: MultipartUpload | undefined;
    try {
      for await (const chunk of asReadable(body)) {
        const bytes = chunkToBuffer(chunk);
        pending.push(bytes);
        pendingBytes += bytes.length;
        size += bytes.length;
        if (opts.size !== undefined && size > opts.size) throw new SizeMismatchError(opts.size, size);
        // More than one part's worth: the object will not fit a single PUT. Awaiting each part
        // before reading on is the backpressure.
        while (pendingBytes > partSize) {
          multipart ??= await unavailableAs('put', () => MultipartUpload.start(this.client, this.bucket, key, { 'Content-Type': contentType }));
          const { part, rest } = takeBytes(pending, partSize);
          pending = rest;
          pendingBytes -= partSize;
          await unavailableAs('put', () => multipart!.upload(part));
        }
      }
      if (opts.size !== undefined && size !== opts.size) throw new SizeMismatchError(opts.size, size);
      const last = Buffer.concat(pending, pendingBytes);
      pending = [];

      if (!multipart) {
        try {
          await unavailableAs('put', () =>
            this.client.putObject(this.bucket, key, last, last.length, {
              'Content-Type': contentType,
              'If-None-Match': '*',
            }),
          );
        } catch (err) {
          // The client retries failed requests; a 412 may then be our own first attempt that landed.
          if (s3Code(err) === 'PreconditionFailed' && (await this.holds(key, last))) return { size };
          throw err;
        }
        return { size };
      }
      await unavailableAs('put', () => multipart!.upload(last));
      if (await this.stat(key)) throw new ObjectExistsError(key);
      await unavailableAs('put', () => multipart!.complete());
      return { size };
    } catch (err) {
      await multipart?.abort();
      if (s3Code(err) === 'PreconditionFailed') throw new ObjectExistsError(key);
      throw err;
    }
  }

  /** Whether key holds exactly these bytes (single-part ETag = MD5 of the content). */
  private async holds(key: string, bytes: Buffer): Promise<boolean> {
    const info = await this.client.statObject(this.bucket, key).catch(() => null);
    return info?.size === bytes.length && info.etag === createHash('md5').update(bytes).digest('hex');
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    assertValidKey(key);
    if (range) assertValidRange(range);
    try {
      if (!range) return await unavailableAs('get', () => this.client.getObject(this.bucket, key));
      // getPartialObject sends no Range header for (0, no length): the whole object, as on the filesystem.
      if (range.end === undefined) return await unavailableAs('get', () => this.client.getPartialObject(this.bucket, key, range.start));
      const length = range.end - range.start + 1;
      return capLength(await unavailableAs('get', () => this.client.getPartialObject(this.bucket, key, range.start, length)), length);
    } catch (err) {
      if (isNotFound(err)) throw new ObjectNotFoundError(key);
      if (s3Code(err) === 'InvalidRange') {
        throw new RangeError(`Range starts at ${range?.start}, past the end of "${key}"`);
      }
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    assertValidKey(key);
    try {
      const info = await unavailableAs('stat', () => this.client.statObject(this.bucket, key));
      const contentType: unknown = info.metaData['content-type'];
      return {
        key,
        size: info.size,
        lastModified: info.lastModified,
        ...(typeof contentType === 'string' ? { contentType } : {}),
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    // A staged run's info object: deleting it (as deleting a staging prefix does) ends its upload.
    if (RUN_INFO_NAME.test(key.slice(key.lastIndexOf('/') + 1))) await this.staged.abortRun(key);
    try {
      // S3 answers 204 for a missing key too.
      await unavailableAs('delete', () => this.client.removeObject(this.bucket, key));
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    assertValidPrefix(prefix);
    // BucketStream is a Readable in object mode; its typings only claim NodeJS.ReadableStream.
    const items = this.client.listObjectsV2(this.bucket, prefix, true) as unknown as AsyncIterable<BucketItem>;
    try {
      for await (const item of items) {
        if (item.name !== undefined) yield { key: item.name, size: item.size, lastModified: item.lastModified };
      }
    } catch (err) {
      // The listing's requests fail inside the stream, out of unavailableAs' reach.
      if (isS3Unavailable(err)) throw new StorageUnavailableError('list', { cause: err });
      throw err;
    }
  }

  async presignedGetUrl(
    key: string,
    ttlSeconds: number,
    opts: { filename?: string; contentType?: string } = {},
  ): Promise<string | null> {
    assertValidKey(key);
    assertValidTtl(ttlSeconds);
    const respHeaders: Record<string, string> = {};
    if (opts.filename !== undefined) respHeaders['response-content-disposition'] = contentDisposition(opts.filename);
    if (opts.contentType !== undefined) respHeaders['response-content-type'] = opts.contentType;
    // Local computation when the client knows the region; otherwise one GetBucketLocation, then cached.
    // The URL names the endpoint the API uses: it must be one browsers can reach.
    return this.client.presignedGetObject(this.bucket, key, ttlSeconds, respHeaders);
  }
}

/** One multipart upload, driven with the client's public multipart calls (no ListMultipartUploads). */
class MultipartUpload {
  private readonly parts: { part: number; etag: string }[] = [];

  private constructor(
    private readonly client: Client,
    private readonly bucket: string,
    private readonly key: string,
    private readonly uploadId: string,
  ) {}

  static async start(client: Client, bucket: string, key: string, headers: Record<string, string>): Promise<MultipartUpload> {
    const uploadId = await client.initiateNewMultipartUpload(bucket, key, headers);
    return new MultipartUpload(client, bucket, key, uploadId);
  }

  async upload(bytes: Buffer): Promise<void> {
    const partNumber = this.parts.length + 1;
    const { etag } = await this.client.uploadPart(
      {
        bucketName: this.bucket,
        objectName: this.key,
        // uploadPart puts the id into the query string as is.
        uploadID: encodeURIComponent(this.uploadId),
        partNumber,
        headers: {},
      },
      bytes,
    );
    this.parts.push({ part: partNumber, etag });
  }

  async complete(): Promise<void> {
    await this.client.completeMultipartUpload(this.bucket, this.key, this.uploadId, this.parts);
  }

  async abort(): Promise<void> {
    await abortUpload(this.client, this.bucket, this.key, this.uploadId);
  }
}

/**
 * Never more bytes than asked: s3rver reads "bytes=0-0" as "bytes=0-" and sends the whole object.
 * Compliant servers (MinIO, S3) send exactly `length` bytes and this is a pass-through.
 */
function capLength(source: Readable, length: number): Readable {
  let left = length;
  const capped = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      if (left <= 0) return done(); // the surplus is drained, not passed on
      const piece = chunk.length <= left ? chunk : chunk.subarray(0, left);
      left -= piece.length;
      done(null, piece);
    },
  });
  // Errors of either stream destroy the other; the reader sees them on `capped`.
  pipeline(source, capped, () => undefined);
  return capped;
}

/** Splits exactly `n` bytes off the front of a chunk list, copying only those `n` bytes. */
function takeBytes(chunks: Buffer[], n: number): { part: Buffer; rest: Buffer[] } {
  const head: Buffer[] = [];
  let taken = 0;
  let i = 0;
  for (; i < chunks.length && taken < n; i++) {
    const chunk = chunks[i]!;
    const wanted = n - taken;
    if (chunk.length <= wanted) {
      head.push(chunk);
      taken += chunk.length;
    } else {
      head.push(chunk.subarray(0, wanted));
      taken += wanted;
      // The tail of the split chunk stays; it is at most one stream chunk.
      return { part: Buffer.concat(head, n), rest: [chunk.subarray(wanted), ...chunks.slice(i + 1)] };
    }
  }
  return { part: Buffer.concat(head, n), rest: chunks.slice(i) };
}
