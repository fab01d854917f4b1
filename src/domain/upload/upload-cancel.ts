import type { EntityManager } from '@mikro-orm/postgresql';
import { Upload } from '../../db/entities/index.js';
import { UploadStatus } from '../../db/enums.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { conflict } from '../errors.js';
import { claimUpload, UploadConflictError } from './upload-lease.js';
import { deleteStaging } from './upload-parts.js';
import type { UploadPolicy } from './upload.service.js';

/** Why a cancelled upload failed, as the GraphQL upload query shows it. */
export const CANCELLED = 'Cancelled by the client';

/**
 * Cancels an open upload (tus termination): the holder of the ticket's secret may, and only while
 * no request is sending bytes (it takes the lease, so a running PATCH is never cut under its feet:
 * that is a 409 with the offset). The staging parts go; the row stays FAILED, so the ticket is dead
 * on every process. A finished upload is a memory: it is removed through GraphQL, not here.
 * Cancelling a failed upload again is a no-op.
 */
export async function cancelUpload(ctx: { em: EntityManager; storage: StorageBackend; policy: Pick<UploadPolicy, 'leaseMs'> }, upload: Upload): Promise<void> {
  const { em, storage, policy } = ctx;
  if (upload.status === UploadStatus.FAILED) return;
  if (upload.status === UploadStatus.COMPLETE) throw conflict('The upload is complete: delete the memory instead');
  const lease = await claimUpload(em, upload, { leaseMs: policy.leaseMs, onLost: () => undefined });
  try {
    const updated = await em.nativeUpdate(
      Upload,
      { id: upload.id, status: UploadStatus.OPEN, leaseToken: lease.token },
      { status: UploadStatus.FAILED, error: CANCELLED },
    );
    if (updated !== 1) throw new UploadConflictError('Another request took over this upload', upload.receivedBytes);
    Object.assign(upload, { status: UploadStatus.FAILED, error: CANCELLED });
  } finally {
    await lease.release().catch(() => undefined);
  }
  await deleteStaging(storage, upload.id);
}
