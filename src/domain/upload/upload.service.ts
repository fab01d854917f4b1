import { createHash, randomUUID } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Asset, Chest, Upload } from '../../db/entities/index.js';
import { ChestEventKind, ContributionStatus, FileType, UploadStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { sanitizeFilename, SNIFF_BYTES, sniffFile } from '../../media/file-policy.js';
import type { StorageBackend } from '../../storage/storage.port.js';
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

export interface UploadPolicy {
  /** Largest original per kind, in bytes. */
  maxBytes: Record<FileType, number>;
  /** How long a ticket stays valid. */
  ttlMs: number;
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
  let chest: Chest;
  let contribution = null;
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
  const { token, hash } = newToken();
  const upload = em.create(Upload, {
    chest,
    contribution,
    account: actor.accountId ? em.getReference(Account, actor.accountId) : null,
    filename: sanitizeFilename(data.filename),
    size: data.size,
    declaredMime: declared,
    expectedSha256: data.sha256 ?? null,
    tokenHash: hash,
    expiresAt: new Date(Date.now() + policy.ttlMs),
  });
  await em.flush();
  return { upload, token };
}

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

/**
 * Takes the bytes of one PATCH starting at `offset` and stores them as staging parts, committing
 * each part's length only once the part is safe in storage. When the last byte is in, the upload
 * is finished (see finishUpload). Memory stays flat: bytes stream straight into storage.
 */
export async function receiveBytes(
  em: EntityManager,
  storage: StorageBackend,
  upload: Upload,
  offset: number,
  body: Readable,
  policy: UploadPolicy,
  intake: AssetIntake,
  /** Called as bytes arrive (stored or in the part being written); the caller throttles. */
  onProgress: (received: number) => void = () => undefined,
): Promise<ReceiveResult> {
  if (upload.status !== UploadStatus.OPEN) throw conflict(`Upload is ${upload.status.toLowerCase()}`);
  if (offset !== upload.receivedBytes) throw new AppError(ErrorCode.CONFLICT, `offset: the server holds ${upload.receivedBytes} bytes; resume from there`, 'offset');

  let part: { stream: PassThrough; written: number; done: Promise<unknown> } | null = null;
  const flushPart = async () => {
    if (!part) return;
    const { stream, written, done } = part;
    part = null;
    stream.end();
    await done;
    await commitPart(em, upload, written);
    if (!upload.sniffedMime && upload.receivedBytes >= Math.min(upload.size, SNIFF_BYTES)) await sniffUpload(em, storage, upload, policy);
  };
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      let rest = chunk;
      while (rest.length > 0) {
        const inFlight = part ? (part as { written: number }).written : 0;
        if (upload.receivedBytes + inFlight + rest.length > upload.size) {
          throw new AppError(ErrorCode.PAYLOAD_TOO_LARGE, `More bytes than the ${upload.size} declared`, 'size');
        }
        if (!part) {
          const stream = new PassThrough();
          part = { stream, written: 0, done: storage.put(partKey(upload, upload.parts), stream) };
          // A rejected put is awaited in flushPart; keep it from being reported as unhandled meanwhile.
          part.done.catch(() => undefined);
        }
        const room = PART_SIZE - part.written;
        const slice = rest.subarray(0, room);
        rest = rest.subarray(slice.length);
        part.written += slice.length;
        onProgress(upload.receivedBytes + part.written);
        if (!part.stream.write(slice)) await new Promise((r) => part!.stream.once('drain', r));
        if (part.written === PART_SIZE) await flushPart();
      }
    }
    await flushPart();
  } catch (err) {
    // The part being written never becomes an object; the committed ones stay for a resume.
    (part as { stream: PassThrough } | null)?.stream.destroy(err instanceof Error ? err : new Error(String(err)));
    if (err instanceof AppError && err.code === ErrorCode.PAYLOAD_TOO_LARGE) await failUpload(em, upload, err.message);
    throw err;
  }
  if (upload.receivedBytes === upload.size) await finishUpload(em, storage, upload, policy, intake);
  return { upload, offset: upload.receivedBytes };
}

/** Records a stored part, guarding against a concurrent PATCH on the same upload. */
async function commitPart(em: EntityManager, upload: Upload, bytes: number): Promise<void> {
  const updated = await em.nativeUpdate(
    Upload,
    { id: upload.id, receivedBytes: upload.receivedBytes, parts: upload.parts, status: UploadStatus.OPEN },
    { receivedBytes: upload.receivedBytes + bytes, parts: upload.parts + 1 },
  );
  if (updated !== 1) throw conflict('Another request is sending bytes for this upload');
  upload.receivedBytes += bytes;
  upload.parts += 1;
}

/** Decides the file's kind from its first stored bytes; refuses it at once if not allowed. */
async function sniffUpload(em: EntityManager, storage: StorageBackend, upload: Upload, policy: UploadPolicy): Promise<void> {
  const head = await readHead(storage, upload, Math.min(upload.size, SNIFF_BYTES));
  try {
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
 * Streams the parts, in order, through SHA-256 into the original's key, checks the hash, and
 * creates the asset — or, when the uploader can already see a memory with the same bytes (see
 * sameBytesAs), reports that one and keeps nothing new. The original is written before the row:
 * a crash in between leaves an object without a row, which the sweeper removes; never a row
 * without its object.
 */
export async function finishUpload(em: EntityManager, storage: StorageBackend, upload: Upload, policy: UploadPolicy, intake: AssetIntake): Promise<void> {
  if (!upload.sniffedMime) await sniffUpload(em, storage, upload, policy);
  const assetId = randomUUID();
  const key = `chests/${upload.chest.id}/originals/${assetId}`;
  const hash = createHash('sha256');
  const hashed = Readable.from(
    (async function* () {
      for (let i = 0; i < upload.parts; i++) {
        for await (const chunk of await storage.get(partKey(upload, i))) {
          hash.update(chunk as Buffer);
          yield chunk as Buffer;
        }
      }
    })(),
  );
  const { size } = await storage.put(key, hashed, { contentType: upload.sniffedMime!, size: upload.size });
  const sha256 = hash.digest('hex');
  if (size !== upload.size || (upload.expectedSha256 && upload.expectedSha256 !== sha256)) {
    await storage.delete(key);
    const why = size !== upload.size ? 'The stored size differs from the declared size' : 'The bytes do not match the SHA-256 given';
    await failUpload(em, upload, why);
    throw badInput('sha256', `sha256: ${why}`);
  }
  let outcome: { duplicateOf: string } | { asset: Asset; events: Awaited<ReturnType<typeof appendChestEvent>>[] };
  try {
    outcome = await em.transactional(async (tx) => {
      await assertStillAccepting(tx, upload);
      const duplicateOf = await sameBytesAs(tx, upload, sha256);
      if (duplicateOf) {
        await tx.nativeUpdate(Upload, { id: upload.id }, { status: UploadStatus.COMPLETE, asset: duplicateOf, duplicate: true });
        return { duplicateOf };
      }
      const asset = tx.create(Asset, {
        id: assetId,
        chest: upload.chest.id,
        contribution: upload.contribution?.id ?? null,
        filename: upload.filename,
        storageKey: key,
        fileType: upload.fileType!,
        size,
        mimeType: upload.sniffedMime!,
        sha256,
      } as never);
      // The row must exist before the upload points at it.
      await tx.flush();
      await tx.nativeUpdate(Upload, { id: upload.id }, { status: UploadStatus.COMPLETE, asset: assetId });
      // Same transaction: the asset exists exactly when its processing job does.
      await intake.queue.enqueue(tx, 'asset.process', { assetId });
      // A guest's memory appears only when an owner approves it (see contribution.service).
      const events = upload.contribution ? [] : [await appendChestEvent(tx, { chestId: upload.chest.id, kind: ChestEventKind.MEMORY_ADDED, assetId })];
      return { asset, events };
    });
  } catch (err) {
    await storage.delete(key).catch(() => undefined);
    if (err instanceof AppError) await failUpload(em, upload, err.message);
    throw err;
  }
  if ('duplicateOf' in outcome) {
    await storage.delete(key);
    Object.assign(upload, { status: UploadStatus.COMPLETE, asset: em.getReference(Asset, outcome.duplicateOf), duplicate: true });
  } else {
    Object.assign(upload, { status: UploadStatus.COMPLETE, asset: outcome.asset });
    publishChestEvents(intake.events, outcome.events);
  }
  await deleteParts(storage, upload);
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
  } else if ((await tx.count(Chest, { id: upload.chest.id, deletedAt: null })) === 0) {
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
  return findVisibleAssetWithBytes(tx, upload.chest.id, sha256);
}

async function failUpload(em: EntityManager, upload: Upload, error: string): Promise<void> {
  upload.status = UploadStatus.FAILED;
  upload.error = error;
  await em.nativeUpdate(Upload, { id: upload.id }, { status: UploadStatus.FAILED, error });
}

/** Best effort: the sweeper removes whatever is left. */
export async function deleteParts(storage: StorageBackend, upload: Pick<Upload, 'id' | 'parts'>): Promise<void> {
  for (let i = 0; i < upload.parts; i++) await storage.delete(partKey(upload, i)).catch(() => undefined);
}

export const stagingPrefix = (uploadId: string) => `staging/uploads/${uploadId}/`;
const partKey = (upload: Pick<Upload, 'id'>, index: number) => `${stagingPrefix(upload.id)}${String(index).padStart(6, '0')}`;

async function readHead(storage: StorageBackend, upload: Upload, n: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let have = 0;
  for (let i = 0; i < upload.parts && have < n; i++) {
    const stream = await storage.get(partKey(upload, i), { start: 0, end: n - have - 1 });
    for await (const c of stream as AsyncIterable<Buffer>) {
      chunks.push(c);
      have += c.length;
    }
  }
  return Buffer.concat(chunks).subarray(0, n);
}
