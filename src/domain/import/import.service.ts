import type { EntityManager } from '@mikro-orm/postgresql';
import { z } from 'zod';
import { Account, ChestImport, Upload } from '../../db/entities/index.js';
import { UploadPurpose, UploadStatus } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import type { Actor } from '../actor.js';
import { AppError, conflict, ErrorCode, notFound } from '../errors.js';
import { archiveKeyOf } from '../upload/upload.service.js';
import { isUuid, parseInput } from '../validation.js';

const importInput = z.object({
  /** A COMPLETE upload with purpose ARCHIVE, made by the caller. */
  uploadId: z.string(),
});

/**
 * Any signed-in account imports an archive it uploaded (createUpload with purpose ARCHIVE): a
 * QUEUED chest_import and its chest.import job, in one transaction. The job makes a new chest the
 * caller owns; follow chestImport(id) until DONE or FAILED.
 */
export async function importChest(em: EntityManager, actor: Actor, input: z.input<typeof importInput>, queue: JobQueue): Promise<ChestImport> {
  if (!actor.accountId) throw new AppError(ErrorCode.UNAUTHENTICATED, 'Sign in to import a chest');
  const data = parseInput(importInput, input);
  const upload = isUuid(data.uploadId) ? await em.findOne(Upload, { id: data.uploadId, account: actor.accountId, purpose: UploadPurpose.ARCHIVE }) : null;
  if (!upload) throw notFound('Upload');
  if (upload.status !== UploadStatus.COMPLETE) throw conflict('The archive has not finished uploading');
  if ((await em.count(ChestImport, { upload })) > 0) throw conflict('This archive was already imported');
  const row = em.create(ChestImport, { account: em.getReference(Account, actor.accountId), upload, archiveKey: archiveKeyOf(upload.id) } as never);
  await withinTransaction(em, () => queue.enqueue(em, 'chest.import', { importId: row.id }));
  return row;
}

/** One of the caller's own imports; anyone else's is NOT_FOUND. */
export async function getImport(em: EntityManager, actor: Actor, importId: string): Promise<ChestImport> {
  const row = actor.accountId && isUuid(importId) ? await em.findOne(ChestImport, { id: importId, account: actor.accountId }, { populate: ['chest'] }) : null;
  if (!row) throw notFound('Import');
  return row;
}
