import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Account, Chest, ChestExport } from '../../db/entities/index.js';
import { ExportStatus } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { AppError, ErrorCode, notFound } from '../errors.js';
import { isUuid, parseInput } from '../validation.js';
import { exportLinkPath, EXPORT_LINK_TTL_SECONDS } from './export-link.js';

const exportInput = z.object({
  chestId: z.string(),
  includeLocation: z.boolean(),
});

/** Archives being written at once per chest: more only queue the same work twice. */
const MAX_UNFINISHED_PER_CHEST = 2;

/**
 * Owners ask for an archive of the whole chest: a QUEUED row and its chest.export job, in one
 * transaction. Follow exportProgress / exportReady; the ZIP is downloadable (downloadUrl) until
 * expiresAt.
 */
export async function exportChest(em: EntityManager, actor: Actor, input: z.input<typeof exportInput>, queue: JobQueue): Promise<ChestExport> {
  const chest = await authorizeChest(em, actor, input.chestId, 'manage');
  const data = parseInput(exportInput, input);
  const unfinished = await em.count(ChestExport, { chest, status: { $in: [ExportStatus.QUEUED, ExportStatus.RUNNING] } });
  if (unfinished >= MAX_UNFINISHED_PER_CHEST) throw new AppError(ErrorCode.CONFLICT, 'Archives of this chest are already being written; wait for them to finish');
  const row = em.create(ChestExport, {
    chest,
    requestedBy: em.getReference(Account, actor.accountId!),
    includeLocation: data.includeLocation,
  } as never);
  await withinTransaction(em, () => queue.enqueue(em, 'chest.export', { exportId: row.id }));
  return row;
}

/** One archive of a chest, for its owners; anyone else: NOT_FOUND (or FORBIDDEN to members who are not owners, as for the chest's other settings). */
export async function getExport(em: EntityManager, actor: Actor, exportId: string): Promise<ChestExport> {
  const row = isUuid(exportId) ? await em.findOne(ChestExport, { id: exportId }) : null;
  if (!row) throw notFound('Export');
  await authorizeChest(em, actor, row.chest.id, 'manage');
  return row;
}

export interface ExportDownloadInput {
  em: EntityManager;
  /** Reached through getExport or Chest.exports, so the caller was already checked as an owner. */
  row: ChestExport;
  storage: StorageBackend;
  /** Signs the API's own links. */
  secret: string;
}

/**
 * A short-lived link to a READY archive (null before, and once expired): a presigned S3 URL
 * that downloads it as an attachment, or the API's own /exports route on the filesystem.
 */
export async function exportDownloadUrl({ em, row, storage, secret }: ExportDownloadInput): Promise<string | null> {
  if (row.status !== ExportStatus.READY || !row.storageKey || !row.expiresAt || row.expiresAt.getTime() <= Date.now()) return null;
  // Usually already in this request's identity map (the chest was loaded to authorise).
  const { personName } = await em.findOneOrFail(Chest, { id: row.chest.id });
  const direct = await storage.presignedGetUrl(row.storageKey, EXPORT_LINK_TTL_SECONDS, { filename: archiveFilename(personName, row), contentType: 'application/zip' });
  return direct ?? exportLinkPath(secret, row.id);
}

/** "Mary Smith – memory chest 2026-12-03.zip". */
export function archiveFilename(personName: string, row: Pick<ChestExport, 'createdAt'>): string {
  return `${personName} – memory chest ${row.createdAt.toISOString().slice(0, 10)}.zip`;
}
