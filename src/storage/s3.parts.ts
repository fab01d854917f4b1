import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { type Client, CopyDestinationOptions, CopySourceOptions } from 'minio';
import { asReadable, chunkToBuffer } from './body.js';
import { concatParts, PartObjects } from './part-objects.js';
import {
  assertContiguousParts,
  assertValidKey,
  assertValidRange,
  assertValidStaging,
  type ByteRange,
  cappedPart,
  ObjectExistsError,
  ObjectNotFoundError,
  partName,
  type OpenPartsOptions,
  type PartWriter,
  type PutPartOptions,
  type StagedPart,
  StagedPartsLostError,
  type StorageBackend,
} from './storage.port.js';
import { abortUpload, isNotFound, s3Code } from './s3.calls.js';
import { S3PartWriter } from './s3.part-writer.js';
import { unavailableAs } from './unavailable.js';

const MiB = 1024 * 1024;
/** S3's smallest part (all but the last) and most parts per upload. */
export const MIN_MULTIPART_PART = 5 * MiB;
const MAX_PARTS = 10_000;
/** AWS CopyObject copies at most 5 GiB in one request; a larger original is copied by the app. */
const MAX_COPY_OBJECT = 5 * 1024 * MiB;
/** What a part's marker keeps of its bytes: enough to sniff a file type (≤ 4,100 bytes). */
export const MARKER_HEAD = 64 * 1024;
/** HEADs at once when listing a large upload's parts (a 10 GB upload has 1,200). */
const STAT_CONCURRENCY = 16;

const RUN_PREFIX = 'mp-';
const MARKER_NAME = /^mp-(\d{15})$/;
/** The run-info object's name (`<staging>run-<32 hex>`); deleting it aborts the run's upload. */
export const RUN_INFO_NAME = /^run-[0-9a-f]{32}$/;

const markerName = (at: number) => `mp-${String(at).padStart(15, '0')}`;
const isMultipartRun = (run: string) => run.startsWith(RUN_PREFIX);
/** Part numbers from the offset: parts of a run are ≥ 5 MiB, so their numbers strictly increase. */
const partNumberAt = (at: number) => Math.floor(at / MIN_MULTIPART_PART) + 1;

interface RunKeys {
  /** JSON { uploadId }: how another process finds the run's multipart upload. */
  info: string;
  /** The multipart upload's own key: the run's parts, once completed. */
  whole: string;
  /** JSON Manifest, written before the upload is completed. */
  manifest: string;
}

function runKeys(staging: string, run: string): RunKeys {
  const base = `${staging}run-${run.slice(RUN_PREFIX.length)}`;
  return { info: base, whole: `${base}-whole`, manifest: `${base}-parts` };
}

interface Member {
  at: number;
  size: number;
  number: number;
  etag: string;
  /** Where the part's bytes start in the completed `whole`. */
  offset: number;
}

interface Manifest {
  members: Member[];
}

/** A multipart part as its marker records it. */
interface MarkedPart extends StagedPart {
  number: number;
  etag: string;
}

type Objects = Pick<StorageBackend, 'put' | 'get' | 'stat' | 'delete' | 'list'>;

/**
 * Staged parts on S3, written once. A part of at least 5 MiB goes as an UploadPart into its run's
 * multipart upload (a run = one multipart upload, initiated on `<staging>run-<id>-whole`); beside
 * it a small marker object `<staging>mp-<offset>` records it (create-only: an offset holds one
 * part) and keeps its first 64 KiB, which is all that can be read of it before composition (S3
 * cannot read a part of an unfinished upload). A smaller part (the last of an upload, or one after
 * a cut) is an object of its own (`at-<offset>`, part-objects.ts).
 *
 * Composition of one run from 0 (the usual upload: every part but perhaps a small last one) sends
 * only that small last part again, completes the upload into `-whole`, and has the server copy it
 * to the key (CopyObject): no byte of the multipart parts crosses the client twice. Other mixes
 * complete each run and copy through the app. The manifest, written before completing, says which
 * parts `-whole` holds, so a compose that failed afterwards, or one under a second key, does not
 * need the (then finished) upload again.
 *
 * Why not UploadPartCopy or completing onto the final key: s3rver, the test server, has no
 * UploadPartCopy, and the key is chosen only when the upload finishes.
 */
export class S3Parts {
  private readonly small: PartObjects;
  /** Run → upload id (a run's upload id never changes), for the most recent runs only. */
  private readonly uploadIds = new Map<string, string>();

  constructor(
    private readonly client: Client,
    private readonly bucket: string,
    private readonly objects: Objects,
  ) {
    this.small = new PartObjects(objects);
  }

  async putPart(staging: string, at: number, body: NodeJS.ReadableStream | Readable, opts: PutPartOptions): Promise<StagedPart> {
    assertValidStaging(staging);
    await this.assertFree(staging, at);
    // S3 needs every part's length up front, so the part is read whole (≤ maxSize) before it goes.
    const chunks: Buffer[] = [];
    for await (const chunk of cappedPart(asReadable(body), opts.maxSize, chunkToBuffer)) chunks.push(chunk);
    return this.store({ staging, at, bytes: Buffer.concat(chunks), run: opts.run });
  }

  async openParts(staging: string, at: number, opts: OpenPartsOptions): Promise<PartWriter> {
    assertValidStaging(staging);
    await this.assertFree(staging, at);
    return new S3PartWriter({
      at,
      ...opts,
      // Later parts follow the writer's own: the marker's If-None-Match guards them (on servers that honour it).
      store: (part) => this.store({ staging, ...part }),
    });
  }

  /** Stores a whole part (not yet checked to be free, unless the caller just did) at `at`. */
  private async store({ staging, at, bytes, run: after }: { staging: string; at: number; bytes: Buffer; run: string | null }): Promise<StagedPart> {
    const number = partNumberAt(at);
    if (bytes.length < MIN_MULTIPART_PART || number > MAX_PARTS) return this.small.putPart(staging, at, Readable.from([bytes]), { run: after, maxSize: bytes.length });
    const run = after && isMultipartRun(after) ? after : await this.startRun(staging);
    const uploadId = await this.uploadIdOf(staging, run);
    const etag = await this.uploadPart(staging, run, uploadId, number, bytes);
    const markerKey = `${staging}${markerName(at)}`;
    const head = bytes.subarray(0, MARKER_HEAD);
    try {
      await unavailableAs('putPart', () =>
        this.client.putObject(this.bucket, markerKey, head, head.length, {
          'x-amz-meta-part-size': String(bytes.length),
          'x-amz-meta-part-run': run,
          'x-amz-meta-part-number': String(number),
          'x-amz-meta-part-etag': etag,
          'If-None-Match': '*',
        }),
      );
    } catch (err) {
      if (s3Code(err) !== 'PreconditionFailed') throw err;
      // The client retries a failed request: a 412 may be our own first attempt that landed.
      if ((await this.marked(staging, at))?.etag !== etag) throw new ObjectExistsError(markerKey);
    }
    return { at, size: bytes.length, run };
  }

  /** ObjectExistsError when a part (either kind) is at `at`. */
  private async assertFree(staging: string, at: number): Promise<void> {
    if (await this.statPart(staging, at)) throw new ObjectExistsError(`${staging}${partName(at)}`);
  }

  async statPart(staging: string, at: number): Promise<StagedPart | null> {
    assertValidStaging(staging);
    const [object, marked] = await Promise.all([this.small.statPart(staging, at), this.marked(staging, at)]);
    return object ?? (marked && { at: marked.at, size: marked.size, run: marked.run });
  }

  async listParts(staging: string): Promise<StagedPart[]> {
    assertValidStaging(staging);
    const objects = await this.small.listParts(staging);
    const markers: number[] = [];
    for await (const obj of this.objects.list(staging)) {
      const m = MARKER_NAME.exec(obj.key.slice(staging.length));
      if (m) markers.push(Number(m[1]));
    }
    const taken = new Set(objects.map((p) => p.at));
    // Both kinds at one offset only if a writer whose lease lapsed raced the next: the object
    // wins, as in statPart, so that HEAD's adoption and composition see the same part.
    const free = markers.filter((at) => !taken.has(at));
    const marked = await mapLimit(free, STAT_CONCURRENCY, (at) => this.marked(staging, at));
    return [...objects, ...marked.flatMap((p) => (p ? [{ at: p.at, size: p.size, run: p.run }] : []))];
  }

  async getPart(staging: string, part: StagedPart, range?: ByteRange): Promise<Readable> {
    assertValidStaging(staging);
    if (!isMultipartRun(part.run)) return this.small.getPart(staging, part, range);
    if (range) assertValidRange(range);
    const marked = await this.marked(staging, part.at);
    if (!marked) throw new ObjectNotFoundError(`${staging}${markerName(part.at)}`);
    const start = range?.start ?? 0;
    const end = Math.min(range?.end ?? marked.size - 1, marked.size - 1);
    if (start >= marked.size) throw new RangeError(`Range starts at ${start}, past the end of the part at ${part.at}`);
    if (end < MARKER_HEAD) return this.objects.get(`${staging}${markerName(part.at)}`, { start, end });
    const keys = runKeys(staging, marked.run);
    const member = (await this.manifest(keys))?.members.find((m) => m.at === marked.at && m.etag === marked.etag);
    if (!member || !(await this.objects.stat(keys.whole))) {
      throw new Error(`Only the first ${MARKER_HEAD} bytes of the part at ${part.at} can be read before it is composed`);
    }
    return this.objects.get(keys.whole, { start: member.offset + start, end: member.offset + end });
  }

  async deletePart(staging: string, at: number): Promise<void> {
    assertValidStaging(staging);
    // The bytes stay in the upload until a part of the same number replaces them or it is aborted.
    await Promise.all([this.small.deletePart(staging, at), this.objects.delete(`${staging}${markerName(at)}`)]);
  }

  async composeParts(staging: string, parts: StagedPart[], key: string, opts: { size: number; contentType?: string }): Promise<{ size: number; copied: number }> {
    assertValidStaging(staging);
    assertValidKey(key);
    const sorted = assertContiguousParts(parts, opts.size);
    const runs = [...new Set(sorted.filter((p) => isMultipartRun(p.run)).map((p) => p.run))];
    if (runs.length === 0) return this.small.composeParts(staging, sorted, key, opts);
    if (await this.objects.stat(key)) throw new ObjectExistsError(key);

    const [only] = runs;
    if (runs.length === 1 && sorted.slice(0, -1).every((p) => p.run === only)) {
      const completed = await this.completeRun(staging, only!, sorted, true);
      if (completed) {
        const copied = await this.copyWhole(runKeys(staging, only!).whole, key, opts);
        // What the server made, not what was asked for: the caller checks it against the upload.
        const size = (await this.objects.stat(key))?.size ?? 0;
        return { size, copied: completed.resent + copied };
      }
    }
    for (const run of runs) {
      await this.completeRun(
        staging,
        run,
        sorted.filter((p) => p.run === run),
        false,
      );
    }
    // Each run's manifest read once, not once per part.
    const manifests = new Map<string, Promise<Manifest | null>>();
    const open = async (p: StagedPart) => {
      if (!isMultipartRun(p.run)) return this.small.getPart(staging, p);
      const keys = runKeys(staging, p.run);
      if (!manifests.has(p.run)) manifests.set(p.run, this.manifest(keys));
      const member = (await manifests.get(p.run))?.members.find((m) => m.at === p.at);
      if (!member || member.size !== p.size) throw new ObjectNotFoundError(`${staging}${markerName(p.at)}`);
      return this.objects.get(keys.whole, { start: member.offset, end: member.offset + member.size - 1 });
    };
    const { size } = await this.objects.put(key, concatParts(sorted, open), opts);
    return { size, copied: size };
  }

  /** Aborts the upload of the run whose info object this is (best effort: s3rver cannot abort). */
  async abortRun(infoKey: string): Promise<void> {
    const info = await this.readJson<{ uploadId: string }>(infoKey);
    if (!info) return;
    await abortUpload(this.client, this.bucket, `${infoKey}-whole`, info.uploadId);
  }

  /**
   * Completes the run's upload with `parts` (its members; with `withTail`, the last part may be an
   * object part, sent into the upload as its last part) unless the manifest says it is done.
   * null when the tail cannot join the upload (its part number is out of range).
   */
  private async completeRun(staging: string, run: string, parts: StagedPart[], withTail: boolean): Promise<{ resent: number } | null> {
    const keys = runKeys(staging, run);
    const done = await this.manifest(keys);
    const uploadId = await this.uploadIdOf(staging, run);
    if (done) {
      const same = done.members.length === parts.length && parts.every((p, i) => done.members[i]!.at === p.at && done.members[i]!.size === p.size);
      if (!same) throw new Error(`The run ${run} was composed of other parts`);
      if (!(await this.objects.stat(keys.whole))) await this.complete(keys, uploadId, done.members);
      return { resent: 0 };
    }
    const members: Member[] = [];
    let offset = 0;
    let resent = 0;
    for (const part of parts) {
      let marked: MarkedPart | null = null;
      if (isMultipartRun(part.run)) {
        marked = await this.marked(staging, part.at);
        if (!marked || marked.run !== run || marked.size !== part.size) throw new ObjectNotFoundError(`${staging}${markerName(part.at)}`);
      } else {
        const number = partNumberAt(part.at);
        const last = members.at(-1);
        if (!withTail || part !== parts.at(-1) || number > MAX_PARTS || (last && number <= last.number)) return null;
        const bytes = await readAll(await this.small.getPart(staging, part));
        marked = { ...part, number, etag: await this.uploadPart(staging, run, uploadId, number, bytes) };
        resent += bytes.length;
      }
      members.push({ at: part.at, size: part.size, number: marked.number, etag: marked.etag, offset });
      offset += part.size;
    }
    const manifest = Buffer.from(JSON.stringify({ members } satisfies Manifest));
    await unavailableAs('composeParts', () => this.client.putObject(this.bucket, keys.manifest, manifest, manifest.length));
    await this.complete(keys, uploadId, members);
    return { resent };
  }

  private async complete(keys: RunKeys, uploadId: string, members: Member[]): Promise<void> {
    await lostAs(keys.info, () =>
      unavailableAs('composeParts', () =>
        this.client.completeMultipartUpload(
          this.bucket,
          keys.whole,
          uploadId,
          members.map((m) => ({ part: m.number, etag: m.etag })),
        ),
      ),
    );
  }

  /** The completed run becomes `key`: copied by the server, or by the app past CopyObject's limit. Returns the bytes the app copied. */
  private async copyWhole(whole: string, key: string, opts: { size: number; contentType?: string }): Promise<number> {
    if (opts.size > MAX_COPY_OBJECT) {
      await this.objects.put(key, await this.objects.get(whole), opts);
      return opts.size;
    }
    await unavailableAs('composeParts', () =>
      this.client.copyObject(
        new CopySourceOptions({ Bucket: this.bucket, Object: whole }),
        new CopyDestinationOptions({
          Bucket: this.bucket,
          Object: key,
          MetadataDirective: 'REPLACE',
          Headers: { 'Content-Type': opts.contentType ?? 'application/octet-stream' },
        }),
      ),
    );
    return 0;
  }

  private async startRun(staging: string): Promise<string> {
    const run = `${RUN_PREFIX}${randomBytes(16).toString('hex')}`;
    const keys = runKeys(staging, run);
    const uploadId = await unavailableAs('putPart', () => this.client.initiateNewMultipartUpload(this.bucket, keys.whole, {}));
    const info = Buffer.from(JSON.stringify({ uploadId }));
    try {
      await unavailableAs('putPart', () => this.client.putObject(this.bucket, keys.info, info, info.length));
    } catch (err) {
      // Nothing would name this upload: end it now.
      await abortUpload(this.client, this.bucket, keys.whole, uploadId);
      throw err;
    }
    this.remember(run, uploadId);
    return run;
  }

  private async uploadIdOf(staging: string, run: string): Promise<string> {
    const known = this.uploadIds.get(run);
    if (known) return known;
    const infoKey = runKeys(staging, run).info;
    const info = await this.readJson<{ uploadId: string }>(infoKey);
    // The staging was deleted under it (the upload cancelled or swept).
    if (!info) throw new StagedPartsLostError(staging, { cause: new ObjectNotFoundError(infoKey) });
    this.remember(run, info.uploadId);
    return info.uploadId;
  }

  private remember(run: string, uploadId: string): void {
    // Insertion order: the first key is the oldest. A forgotten run is read from its info object again.
    if (this.uploadIds.size >= 1024) this.uploadIds.delete(this.uploadIds.keys().next().value!);
    this.uploadIds.set(run, uploadId);
  }

  private async uploadPart(staging: string, run: string, uploadId: string, partNumber: number, bytes: Buffer): Promise<string> {
    const { etag } = await lostAs(runKeys(staging, run).info, () =>
      unavailableAs('putPart', () =>
        this.client.uploadPart(
          // uploadPart puts the id into the query string as is.
          { bucketName: this.bucket, objectName: runKeys(staging, run).whole, uploadID: encodeURIComponent(uploadId), partNumber, headers: {} },
          bytes,
        ),
      ),
    );
    return etag;
  }

  /** The multipart part at `at`, from its marker; null when there is none. */
  private async marked(staging: string, at: number): Promise<MarkedPart | null> {
    let meta: Record<string, unknown>;
    try {
      meta = (await unavailableAs('statPart', () => this.client.statObject(this.bucket, `${staging}${markerName(at)}`))).metaData;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    const size = Number(meta['part-size']);
    const number = Number(meta['part-number']);
    const { 'part-run': run, 'part-etag': etag } = meta;
    if (!Number.isSafeInteger(size) || !Number.isSafeInteger(number) || typeof run !== 'string' || typeof etag !== 'string') return null;
    return { at, size, run, number, etag };
  }

  private manifest(keys: RunKeys): Promise<Manifest | null> {
    return this.readJson<Manifest>(keys.manifest);
  }

  private async readJson<T>(key: string): Promise<T | null> {
    try {
      return JSON.parse((await readAll(await this.objects.get(key))).toString('utf8')) as T;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
  }
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunkToBuffer(chunk));
  return Buffer.concat(chunks);
}

/** fn over items, at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** NoSuchUpload: the run's multipart upload expired or was aborted, and its parts with it. */
async function lostAs<T>(infoKey: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (s3Code(err) === 'NoSuchUpload') throw new StagedPartsLostError(infoKey.slice(0, infoKey.lastIndexOf('/') + 1), { cause: err });
    throw err;
  }
}
