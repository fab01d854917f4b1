import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { ChestEventKind, FileType, ProcessingStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { getAsset } from '../asset/asset.service.js';
import { conflict } from '../errors.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';

/**
 * Owners send a FAILED memory through processing again (after a fix on the server, say), or a
 * recording or video processed before previews existed, so that people outside the family get its
 * metadata-free copy (until then they get no link at all). The status change and the new job
 * commit together; a second call while it is queued is a CONFLICT.
 */
export async function retryProcessing(em: EntityManager, actor: Actor, assetId: string, queue: JobQueue, bus: EventBus): Promise<Asset> {
  const asset = await getAsset(em, actor, assetId);
  await authorizeChest(em, actor, asset.chest.id, 'manage');
  const lacksPreview = asset.status === ProcessingStatus.COMPLETE && (asset.fileType === FileType.AUDIO || asset.fileType === FileType.VIDEO) && asset.preview === null;
  if (asset.status !== ProcessingStatus.FAILED && !lacksPreview) {
    throw conflict(`Only memories whose processing failed, or recordings and videos without a preview, can be processed again; this one is ${asset.status.toLowerCase()}`);
  }
  const message = await em.transactional(async (tx) => {
    // The status guard makes two concurrent retries enqueue one job. processingAttempts is never
    // reset: it is the fence against a stale attempt, and a value that came round again would let
    // an old attempt that wakes up write over the new one.
    const changed = await tx.nativeUpdate(
      Asset,
      { id: asset.id, status: asset.status },
      { status: ProcessingStatus.PENDING, processingError: null, progress: 0, processingStage: 'queued' },
    );
    if (changed !== 1) throw conflict('Processing was already restarted');
    await queue.enqueue(tx, 'asset.process', { assetId: asset.id });
    return appendChestEvent(tx, {
      chestId: asset.chest.id,
      kind: ChestEventKind.ASSET_PROCESSING,
      assetId: asset.id,
      data: { stage: 'queued', percent: 0, status: ProcessingStatus.PENDING, error: null },
    });
  });
  publishChestEvents(bus, [message]);
  Object.assign(asset, { status: ProcessingStatus.PENDING, processingError: null, progress: 0, processingStage: 'queued' });
  return asset;
}
