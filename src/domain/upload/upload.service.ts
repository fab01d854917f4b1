import { createHash, type Hash, randomUUID } from 'node:crypto';
import type { z } from 'zod';
import type { Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Asset, Chest, type Contribution, Upload } from '../../db/entities/index.js';
import { ChestEventKind, ContributionStatus, FileType, UploadPurpose, UploadStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { sanitizeFilename, SNIFF_BYTES, sniffFile } from '../../media/file-policy.js';
import { openPartWriter } from '../../storage/part-writer.js';
import { ObjectExistsError, type PartWriter, type StagedPart, StagedPartsLostError, type StorageBackend } from '../../storage/storage.port.js';
import { authorizeChest } from '../access/access.service.js';
import { findVisibleAssetWithBytes } from '../asset/asset.queries.js';
import type { Actor } from '../actor.js';
import { getContributionByGuestToken } from '../contribution/contribution.service.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';
import { AppError, badInput, conflict, ErrorCode, notFound } from '../errors.js';
import { hashToken, looksLikeToken, newToken } from '../tokens.js';
import { type ClientGuard, guardedLookup } from '../rate-limit/client-guard.js';
import { parseInput } from '../validation.js';
import { type CreateUploadInput, createUploadInput } from './upload.input.js';
import { noFaults, type UploadFaults } from './upload-faults.js';
import { claimUpload, UploadConflictError, type UploadLease, wrongOffset } from './upload-lease.js';
import { forgetHash, hashAt, recordHash } from './upload-hash.js';
import { deleteStaging, recordedParts, stagingPrefix, unrecordedPart } from './upload-parts.js';

export interface UploadPolicy {
  /** Largest original per kind, in bytes. */
  maxBytes: Record<FileType, number>;
  /** How long a ticket stays valid. */
  ttlMs: number;
  /** How long a PATCH holds the ticket without renewing (a crashed or silent one frees it then). */
  leaseMs: number;
}

/** Where a finished upload goes next: its processing job, and the chest's live events. */
export interface AssetIntake {
  queue: JobQueue;
  events: EventBus;
}

export interface UploadTicket {
  upload: Upload;
  /** Secret for the byte route (`Authorization: Upload <token>`); shown once. */
  token: string;
}

/** The largest chest archive importChest takes. */
export const MAX_ARCHIVE_BYTES = 64 * 1024 ** 3;

/** Staging parts are this large: a cut connection costs at most one part of re-sending. */
export const PART_SIZE = 8 * 1024 * 1024;

const FAMILY_KIND: Record<string, FileType> = { image: FileType.IMAGE, video: FileType.VIDEO, audio: FileType.AUDIO };

/**
 * Opens an upload: checks who may add to the chest (members who edit, or a guest for their
 * pending contribution), the name, the declared size against the limit for the declared kind,
 * and returns a ticket. No bytes move through GraphQL.
 */
export async function createUpload(
  em: EntityManager,
  actor: Actor,
  input: CreateUploadInput,
  policy: UploadPolicy,
  /** A guest's token is a bearer secret: failed lookups count against the client. */
  guard: ClientGuard,
): Promise<UploadTicket> {
  const data = parseInput(createUploadInput, input);
  if (data.purpose === UploadPurpose.ARCHIVE) return createArchiveUpload(em, actor, data, policy);
  let chest: Chest;
  let contribution: Contribution | null = null;
  if (data.chestId) {
    chest = await authorizeChest(em, actor, data.chestId, 'edit');
  } else {
    contribution = await getContributionByGuestToken(em, data.guestToken!, guard);
    if (contribution.status !== ContributionStatus.PENDING) throw conflict('Memories can be added only while the contribution awaits review');
    chest = contribution.chest;
    if (!chest.allowContributions) throw notFound('Contribution');
  }
  const declared = data.mimeType.toLowerCase();
  const kind = FAMILY_KIND[declared.split('/')[0]!] ?? (declared === 'application/octet-stream' ? undefined : FileType.DOCUMENT);
  const max = kind ? policy.maxBytes[kind] : Math.max(...Object.values(policy.maxBytes));
  if (data.size > max) throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `size: at most ${max} bytes for this kind of file`, 'size');
  return openTicket(em, { chest, contribution, purpose: UploadPurpose.MEMORY, accountId: actor.accountId, data, declared, policy });
}

/**
 * An archive for importChest: any signed-in account, no chest; a ZIP of at most MAX_ARCHIVE_BYTES.
 * It is stored under imports/ when complete and never becomes a memory.
 */
async function createArchiveUpload(em: EntityManager, actor: Actor, data: z.infer<typeof createUploadInput>, policy: UploadPolicy): Promise<UploadTicket> {
  if (!actor.accountId) throw new AppError(ErrorCode.UNAUTHENTICATED, 'Sign in to import a chest');
  const declared = data.mimeType.toLowerCase();
  if (!['application/zip', 'application/x-zip-compressed', 'application/octet-stream'].includes(declared)) {
    throw new AppError(ErrorCode.UNSUPPORTED_FILE_TYPE, 'An archive is a ZIP file (application/zip)', 'mimeType');
  }
  if (data.size > MAX_ARCHIVE_BYTES) throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `size: an archive is at most ${MAX_ARCHIVE_BYTES} bytes`, 'size');
  return openTicket(em, { chest: null, contribution: null, purpose: UploadPurpose.ARCHIVE, accountId: actor.accountId, data, declared, policy });
}

/** The upload row and its bearer token, for a memory of a chest or for an account's archive. */
async function openTicket(
  em: EntityManager,
  t: {
    chest: Chest | null;
    contribution: Contribution | null;
    purpose: UploadPurpose;
    accountId: string | null;
    data: z.infer<typeof createUploadInput>;
    declared: string;
    policy: UploadPolicy;
  },
): Promise<UploadTicket> {
  const { token, hash } = newToken();
  const upload = em.create(Upload, {
    chest: t.chest,
    contribution: t.contribution,
    purpose: t.purpose,
    account: t.accountId ? em.getReference(Account, t.accountId) : null,
    filename: sanitizeFilename(t.data.filename),
    size: t.data.size,
    declaredMime: t.declared,
    expectedSha256: t.data.sha256 ?? null,
    tokenHash: hash,
    expiresAt: new Date(Date.now() + t.policy.ttlMs),
  });
  await em.flush();
  return { upload, token };
}

/** Where a complete archive upload's ZIP is kept until its import has read it. */
export const archiveKeyOf = (uploadId: string) => `imports/${uploadId}.zip`;

/**
 * The open upload a ticket belongs to. Unknown, foreign, finished and expired tickets are all
 * NOT_FOUND, and each counts against the client's failed upload secrets.
 */
export async function uploadForTicket(em: EntityManager, uploadId: string, token: string, guard: ClientGuard): Promise<Upload> {
  return guardedLookup(em, guard, 'upload-secret', async () => {
    const upload = looksLikeToken(token) ? await em.findOne(Upload, { id: uploadId, tokenHash: hashToken(token) }) : null;
    if (!upload || upload.expiresAt.getTime() <= Date.now()) throw notFound('Upload');
    return upload;
  });
}

export interface ReceiveResult {
  upload: Upload;
  /** Where the next request must start. */
  offset: number;
}

/** What the byte side of uploads works with. */
export interface UploadContext {
  em: EntityManager;
  storage: StorageBackend;
  policy: UploadPolicy;
  intake: AssetIntake;
  /** The fault-injection seam (tests and the crash drill); nothing in production. */
  faults?: UploadFaults;
}

export interface ReceiveInput {
  /** The open upload, as uploadForTicket found it. */
  upload: Upload;
  /** Upload-Offset: where the client says these bytes start. */
  offset: number;
  /** The request body: the bytes from `offset` on. */
  body: Readable;
  /** Called as bytes arrive (stored or in the part being written); the caller throttles. */
  onProgress?: (received: number) => void;
}

/**
 * Takes the bytes of one PATCH starting at `offset` and stores them as staging parts, committing
 * each part's length only once the part is safe in storage. Every byte is written once (the parts
 * become the original) and hashed as it arrives (upload-hash.ts). One request at a time holds the
 * ticket (see claimUpload): a second one is told the current offset at once. When the last byte
 * is in, the upload is finished (see finishUpload). Memory stays flat: bytes stream straight into
 * storage. A PATCH at the full length of a finished upload answers again what the one that
 * finished it answered, so a client that lost that answer loses nothing.
 */
export async function receiveBytes(ctx: UploadContext, input: ReceiveInput): Promise<ReceiveResult> {
  const { em, storage, policy } = ctx;
  const { upload, offset, body, onProgress = () => undefined } = input;
  const faults = ctx.faults ?? noFaults;
  if (upload.status === UploadStatus.COMPLETE && offset === upload.size) return { upload, offset: upload.size };
  if (upload.status !== UploadStatus.OPEN) throw conflict(`Upload is ${upload.status.toLowerCase()}`);

  const lease = await claimUpload(em, upload, {
    leaseMs: policy.leaseMs,
    onLost: () => body.destroy(new UploadConflictError('Another request took over this upload', upload.receivedBytes)),
  });
  try {
    if (offset !== upload.receivedBytes) {
      throw wrongOffset(upload.receivedBytes);
    }
    // A part stored but never recorded sits where these bytes go: the client sends them again.
    await storage.deletePart(stagingPrefix(upload.id), upload.receivedBytes);
    await receiveParts(ctx, { upload, body, onProgress, lease, faults });
    if (upload.receivedBytes === upload.size) {
      lease.keepAlive();
      await finishUpload(ctx, upload, lease.token);
    }
  } finally {
    // If the database is gone too, the lease lapses on its own.
    await lease.release().catch(() => undefined);
  }
  return { upload, offset: upload.receivedBytes };
}

/**
 * Streams the body into parts of PART_SIZE through one writer that stays open for the whole
 * request (openPartWriter), each part recorded once it is in storage. A part's checkpoint (stored,
 * then recorded) runs while the next part's bytes go on arriving; at most one is in flight, so at
 * most one part is ever stored and not recorded, as HEAD's adoption expects. The bytes go through
 * SHA-256 on their way (the state moves on only when a part is recorded), and the first
 * SNIFF_BYTES are kept for sniffing, so nothing is read back from storage.
 */
async function receiveParts(
  ctx: UploadContext,
  { upload, body, onProgress, lease, faults }: Required<Omit<ReceiveInput, 'offset'>> & { lease: UploadLease; faults: UploadFaults },
): Promise<void> {
  const { em, storage, policy } = ctx;
  const staging = stagingPrefix(upload.id);
  const start = upload.receivedBytes;
  // The hash of every byte up to start + received, when this process has it (always from offset 0).
  const live = hashAt(upload.id, start);
  const head: Buffer[] = [];
  let headBytes = start === 0 ? 0 : -1; // -1: this request did not see the file's first bytes
  let received = 0;
  let partBytes = 0;
  let half = 0;
  // The checkpoint of the last part ended; its failure stops the request at the next chunk.
  let checkpoint: Promise<void> | null = null;
  let failure: unknown = null;
  let writer: PartWriter | null = null;
  const endPart = async () => {
    if (checkpoint) await checkpoint;
    const ended = writer!.endPart();
    const partHash = live?.copy() ?? null;
    partBytes = 0;
    checkpoint = (async () => {
      const stored = await ended;
      await faults('part-stored');
      await commitPart(em, upload, stored, lease.token);
      if (partHash) recordHash(upload.id, upload.receivedBytes, partHash);
      else forgetHash(upload.id);
      if (!upload.sniffedMime && upload.receivedBytes >= Math.min(upload.size, SNIFF_BYTES)) {
        await sniffUpload(em, storage, upload, policy, headBytes >= 0 ? Buffer.concat(head) : undefined);
      }
    })();
    checkpoint.catch((err: unknown) => (failure ??= err));
  };
  try {
    // destroyOnReturn false: an error here must not destroy the request (and its socket), or the
    // client would see a reset instead of the answer that tells it where to resume.
    for await (const chunk of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      if (failure) throw failure;
      lease.touch();
      let rest = chunk;
      while (rest.length > 0) {
        if (start + received + rest.length > upload.size) {
          throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `More bytes than the ${upload.size} declared`, 'size');
        }
        writer ??= await openPartWriter(storage, staging, start, { run: upload.stagingRun, maxSize: PART_SIZE });
        if (partBytes === 0) half = Math.ceil(Math.min(PART_SIZE, upload.size - start - received) / 2);
        const slice = rest.subarray(0, PART_SIZE - partBytes);
        rest = rest.subarray(slice.length);
        const before = partBytes;
        partBytes += slice.length;
        received += slice.length;
        live?.update(slice);
        if (headBytes >= 0 && headBytes < SNIFF_BYTES) {
          const kept = Buffer.from(slice.subarray(0, SNIFF_BYTES - headBytes));
          head.push(kept);
          headBytes += kept.length;
        }
        onProgress(start + received);
        await writer.write(slice);
        if (before < half && partBytes >= half) await faults('mid-part');
        if (partBytes === PART_SIZE) await endPart();
      }
    }
    if (partBytes > 0) await endPart();
    await checkpoint;
  } catch (err) {
    // A part ended before the error may still be stored and recorded; the one being written never
    // becomes a part. Both settle before the lease is given back: the next writer may append to the run.
    await (checkpoint as Promise<void> | null)?.catch(() => undefined);
    const cause = failure && !(err instanceof UploadConflictError) ? failure : err;
    if (cause instanceof ObjectExistsError) throw new UploadConflictError('Another request stored these bytes first', upload.receivedBytes);
    if (cause instanceof StagedPartsLostError) throw await partsLost(em, upload);
    if (cause instanceof AppError && cause.code === ErrorCode.PAYLOAD_TOO_LARGE) await failUpload(em, upload, cause.message);
    throw cause;
  } finally {
    await (writer as PartWriter | null)?.close();
  }
}

/**
 * Records a stored part; only the request holding the lease can, and only at the offset it read.
 * The next part appends to the run this one went into.
 */
async function commitPart(em: EntityManager, upload: Upload, part: StagedPart, leaseToken: string, { adopted = false } = {}): Promise<void> {
  // An adopted part was stored by a request that may not be done with its run: appended to only
  // when it is the run the row already continues (whose writer gave its lease back).
  const stagingRun = !adopted || part.run === upload.stagingRun ? part.run : null;
  const updated = await em.nativeUpdate(
    Upload,
    { id: upload.id, receivedBytes: upload.receivedBytes, parts: upload.parts, status: UploadStatus.OPEN, leaseToken },
    { receivedBytes: upload.receivedBytes + part.size, parts: upload.parts + 1, stagingRun },
  );
  if (updated !== 1) throw new UploadConflictError('Another request took over this upload', upload.receivedBytes);
  upload.receivedBytes += part.size;
  upload.parts += 1;
  upload.stagingRun = stagingRun;
}

/**
 * Brings an open upload's row in line with storage before telling a client where to resume
 * (HEAD): a part that was stored but not recorded (the request, its connection or its process
 * died in between) is adopted, so the client need not send it again. Only under the lease, so
 * never under a request that is about to record that very part; when another request holds the
 * ticket, the row's offset is the answer as it is.
 */
export async function reconcileUpload(ctx: Pick<UploadContext, 'em' | 'storage' | 'policy'>, upload: Upload): Promise<Upload> {
  if (upload.status !== UploadStatus.OPEN) return upload;
  let lease: UploadLease;
  try {
    lease = await claimUpload(ctx.em, upload, { leaseMs: ctx.policy.leaseMs, onLost: () => undefined });
  } catch (err) {
    if (err instanceof AppError && err.code === ErrorCode.CONFLICT) return upload;
    throw err;
  }
  try {
    const found = await unrecordedPart(ctx.storage, upload, PART_SIZE);
    if (found === 'unusable') await ctx.storage.deletePart(stagingPrefix(upload.id), upload.receivedBytes);
    // Adopted, but not appended to: the request that stored it may not be done with its run.
    // Nor is its hash known here: the upload is hashed from storage at completion.
    else if (found) {
      await commitPart(ctx.em, upload, found, lease.token, { adopted: true });
      forgetHash(upload.id);
    }
  } finally {
    await lease.release().catch(() => undefined);
  }
  return upload;
}

/**
 * Decides the file's kind from its first stored bytes (`seen`: as they arrived, when this request
 * received them; otherwise read from staging); refuses it at once if not allowed.
 */
async function sniffUpload(em: EntityManager, storage: StorageBackend, upload: Upload, policy: UploadPolicy, seen?: Buffer): Promise<void> {
  const n = Math.min(upload.size, SNIFF_BYTES);
  const head = seen && seen.length >= n ? seen.subarray(0, n) : await readHead(storage, upload, n);
  try {
    if (upload.purpose === UploadPurpose.ARCHIVE) {
      // A ZIP starts with a local file header (or, empty, with the end of its central directory).
      const magic = head.subarray(0, 4).toString('latin1');
      if (magic !== 'PK\x03\x04' && magic !== 'PK\x05\x06') throw new AppError(ErrorCode.UNSUPPORTED_FILE_TYPE, 'An archive must be a ZIP file', 'mimeType');
      upload.sniffedMime = 'application/zip';
      await em.nativeUpdate(Upload, { id: upload.id }, { sniffedMime: upload.sniffedMime });
      return;
    }
    const sniffed = await sniffFile(head, upload.declaredMime);
    if (upload.size > policy.maxBytes[sniffed.fileType]) {
      throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `At most ${policy.maxBytes[sniffed.fileType]} bytes for this kind of file`, 'size');
    }
    upload.fileType = sniffed.fileType;
    upload.sniffedMime = sniffed.mimeType;
    await em.nativeUpdate(Upload, { id: upload.id }, { fileType: sniffed.fileType, sniffedMime: sniffed.mimeType });
  } catch (err) {
    if (err instanceof AppError) await failUpload(em, upload, err.message);
    throw err;
  }
}

/**
 * Makes the original of the parts (storage.composeParts: on the filesystem, when one run holds
 * them all, the very file they were written to), checks the size and the SHA-256 computed as the
 * bytes arrived (or, when this process does not hold it, read once from the original), and creates
 * the asset — or, when the uploader can already see a memory with the same bytes (see
 * sameBytesAs), reports that one and keeps nothing new. The original is written before the row:
 * a crash in between leaves an object without a row, which the sweeper removes; never a row
 * without its object. Only the request holding the lease (`leaseToken`) can mark it COMPLETE.
 */
export async function finishUpload(ctx: UploadContext, upload: Upload, leaseToken: string): Promise<void> {
  const { em, storage, policy, intake } = ctx;
  const faults = ctx.faults ?? noFaults;
  if (!upload.sniffedMime) await sniffUpload(em, storage, upload, policy);
  if (upload.purpose === UploadPurpose.ARCHIVE || !upload.chest) return finishArchive(ctx, upload, leaseToken);
  const chestId = upload.chest.id;
  const parts = await recordedParts(storage, upload);
  const assetId = randomUUID();
  const key = `chests/${chestId}/originals/${assetId}`;
  const running = hashAt(upload.id, upload.size);
  const { size } = await composeOriginal(ctx, upload, parts, key, upload.sniffedMime!);
  const sha256 = running ? running.digest('hex') : await hashObject(storage, key);
  if (size !== upload.size || (upload.expectedSha256 && upload.expectedSha256 !== sha256)) {
    await storage.delete(key);
    const why = size !== upload.size ? 'The stored size differs from the declared size' : 'The bytes do not match the SHA-256 given';
    await failUpload(em, upload, why);
    throw badInput('sha256', `sha256: ${why}`);
  }
  await faults('original-stored');
  let outcome: { duplicateOf: string } | { asset: Asset; events: Awaited<ReturnType<typeof appendChestEvent>>[] };
  try {
    outcome = await em.transactional(async (tx) => {
      await assertStillAccepting(tx, upload);
      const complete = (set: Partial<Pick<Upload, 'duplicate'>> & { asset: string }) => markComplete(tx, upload, leaseToken, set);
      const duplicateOf = await sameBytesAs(tx, upload, sha256);
      if (duplicateOf) {
        await complete({ asset: duplicateOf, duplicate: true });
        return { duplicateOf };
      }
      const asset = tx.create(Asset, {
        id: assetId,
        chest: chestId,
        contribution: upload.contribution?.id ?? null,
        // Who added it decides who may bin it (editors: their own; domain/asset/bin.service.ts).
        addedBy: upload.contribution ? null : (upload.account?.id ?? null),
        filename: upload.filename,
        storageKey: key,
        fileType: upload.fileType!,
        size,
        mimeType: upload.sniffedMime!,
        sha256,
      } as never);
      // The row must exist before the upload points at it.
      await tx.flush();
      await complete({ asset: assetId });
      // Same transaction: the asset exists exactly when its processing job does.
      await intake.queue.enqueue(tx, 'asset.process', { assetId });
      // A guest's memory appears only when an owner approves it (see contribution.service).
      const events = upload.contribution ? [] : [await appendChestEvent(tx, { chestId, kind: ChestEventKind.MEMORY_ADDED, assetId })];
      return { asset, events };
    });
  } catch (err) {
    await storage.delete(key).catch(() => undefined);
    if (err instanceof AppError && !(err instanceof UploadConflictError)) await failUpload(em, upload, err.message);
    throw err;
  }
  await faults('asset-committed');
  if ('duplicateOf' in outcome) {
    await storage.delete(key);
    Object.assign(upload, { status: UploadStatus.COMPLETE, asset: em.getReference(Asset, outcome.duplicateOf), duplicate: true });
  } else {
    Object.assign(upload, { status: UploadStatus.COMPLETE, asset: outcome.asset });
    publishChestEvents(intake.events, outcome.events);
  }
  forgetHash(upload.id);
  await deleteStaging(storage, upload.id);
}

/**
 * An archive's parts become one object under imports/ (checked like an original: size, SHA-256)
 * and the upload COMPLETE with no memory; importChest reads it from there.
 */
async function finishArchive(ctx: UploadContext, upload: Upload, leaseToken: string): Promise<void> {
  const { em, storage } = ctx;
  const key = archiveKeyOf(upload.id);
  const running = hashAt(upload.id, upload.size);
  const parts = await recordedParts(storage, upload);
  // A finish that crashed after composing left the object: compose again only when it is not there.
  const size = (await storage.stat(key))?.size ?? (await composeOriginal(ctx, upload, parts, key, 'application/zip')).size;
  const sha256 = running ? running.digest('hex') : await hashObject(storage, key);
  if (size !== upload.size || (upload.expectedSha256 && upload.expectedSha256 !== sha256)) {
    await storage.delete(key);
    const why = size !== upload.size ? 'The stored size differs from the declared size' : 'The bytes do not match the SHA-256 given';
    await failUpload(em, upload, why);
    throw badInput('sha256', `sha256: ${why}`);
  }
  const updated = await em.nativeUpdate(Upload, { id: upload.id, status: UploadStatus.OPEN, leaseToken }, { status: UploadStatus.COMPLETE });
  if (updated !== 1) throw new UploadConflictError('Another request took over this upload', upload.receivedBytes);
  upload.status = UploadStatus.COMPLETE;
  forgetHash(upload.id);
  await deleteStaging(storage, upload.id);
}

/** The SHA-256 of a stored object: only for an upload whose running hash is in another process. */
async function hashObject(storage: StorageBackend, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await storage.get(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** COMPLETE, only from OPEN and only by the lease holder: two finishes of one upload cannot both commit. */
async function markComplete(tx: EntityManager, upload: Upload, leaseToken: string, set: { asset: string; duplicate?: boolean }): Promise<void> {
  const updated = await tx.nativeUpdate(Upload, { id: upload.id, status: UploadStatus.OPEN, leaseToken }, { status: UploadStatus.COMPLETE, ...set });
  if (updated !== 1) throw new UploadConflictError('Another request took over this upload', upload.receivedBytes);
}

/**
 * A chest put in the bin, or a contribution reviewed, while the bytes were on their way takes
 * nothing more: a late upload must not slip into an approved contribution unreviewed, nor sit
 * invisible in a rejected one. The contribution's row stays locked until the asset is in, so an
 * approval either sees the new memory or this upload sees the approval.
 */
async function assertStillAccepting(tx: EntityManager, upload: Upload): Promise<void> {
  if (upload.contribution) {
    const [row] = await tx.execute<{ status: ContributionStatus; allow_contributions: boolean; deleted_at: Date | null }[]>(
      `select c.status, ch.allow_contributions, ch.deleted_at from contribution c join chest ch on ch.id = c.chest_id where c.id = ? for update of c`,
      [upload.contribution.id],
    );
    if (!row || row.deleted_at || !row.allow_contributions) throw notFound('Contribution');
    if (row.status !== ContributionStatus.PENDING) throw conflict('Memories can be added only while the contribution awaits review');
  } else if (!upload.chest || (await tx.count(Chest, { id: upload.chest.id, deletedAt: null })) === 0) {
    throw notFound('Chest');
  }
}

/**
 * The memory these bytes duplicate, judged only among memories the uploader may see: a guest,
 * their own contribution's; a member, what members see (never a guest's pending copy, never a
 * deleted memory). So deduplication cannot hide a member's memory behind someone else's upload,
 * and a guest learns nothing about what the chest holds.
 */
async function sameBytesAs(tx: EntityManager, upload: Upload, sha256: string): Promise<string | null> {
  if (upload.contribution) {
    const own = await tx.findOne(Asset, { contribution: upload.contribution.id, sha256, deletedAt: null }, { fields: ['id'], orderBy: { createdAt: 'asc' } });
    return own?.id ?? null;
  }
  return upload.chest ? findVisibleAssetWithBytes(tx, upload.chest.id, sha256) : null;
}

const PARTS_LOST = 'The bytes stored so far are no longer in storage (the storage server expired the unfinished upload); start the upload again';

/**
 * The storage server lost the parts (an S3 store expired the multipart upload holding them): the
 * upload cannot go on or finish. It is FAILED, so a tus client gets 410 and starts anew.
 */
async function partsLost(em: EntityManager, upload: Upload): Promise<AppError> {
  await failUpload(em, upload, PARTS_LOST);
  return new AppError(ErrorCode.CONFLICT, PARTS_LOST);
}

/** The upload's parts made into `key`; parts the storage server lost fail the upload (partsLost). */
async function composeOriginal(ctx: UploadContext, upload: Upload, parts: StagedPart[], key: string, contentType: string): Promise<{ size: number }> {
  try {
    return await ctx.storage.composeParts(stagingPrefix(upload.id), parts, key, { contentType, size: upload.size });
  } catch (err) {
    throw err instanceof StagedPartsLostError ? await partsLost(ctx.em, upload) : err;
  }
}

async function failUpload(em: EntityManager, upload: Upload, error: string): Promise<void> {
  forgetHash(upload.id);
  upload.status = UploadStatus.FAILED;
  upload.error = error;
  await em.nativeUpdate(Upload, { id: upload.id }, { status: UploadStatus.FAILED, error });
}

async function readHead(storage: StorageBackend, upload: Upload, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  for (const part of await recordedParts(storage, upload)) {
    if (have >= n) break;
    const stream = await storage.getPart(stagingPrefix(upload.id), part, { start: 0, end: n - have - 1 });
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      have += c.length;
    }
  }
  return Buffer.concat(chunks).subarray(0, n);
}
