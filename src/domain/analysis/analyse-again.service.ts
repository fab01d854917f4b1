import { LockMode } from '@mikro-orm/core';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Asset } from '../../db/entities/index.js';
import { ChestEventKind, ProcessingStatus } from '../../db/enums.js';
import type { EventBus } from '../../events/events.port.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { getAsset } from '../asset/asset.service.js';
import { conflict, notFound } from '../errors.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';

/** The chest event's stage while a memory waits for its AI step to run again. */
export const ANALYSE_AGAIN_STAGE = 'analyse-queued';

/**
 * Owners and editors run the AI step again on a processed memory (after a better OCR, a model
 * installed, vision turned back on): one asset.analyse job, whose results replace the previous
 * run's tags, caption and text while what people wrote stays (analysis.service.ts). Idempotent:
 * while a run is queued or under way, asking again queues nothing more. Someone who cannot see
 * the memory gets NOT_FOUND, a viewer FORBIDDEN, a memory still processing or failed CONFLICT
 * (retryProcessing is for those).
 */
export async function analyseAgain(em: EntityManager, actor: Actor, assetId: string, queue: JobQueue, bus: EventBus): Promise<Asset> {
  const asset = await getAsset(em, actor, assetId);
  await authorizeChest(em, actor, asset.chest.id, 'edit');
  assertComplete(asset);
  const message = await em.transactional(async (tx) => {
    // Under the row's lock, two calls at once queue one job: the second sees the first's once it commits.
    const locked = await tx.findOne(Asset, { id: asset.id, deletedAt: null }, { lockMode: LockMode.PESSIMISTIC_WRITE, refresh: true });
    if (!locked) throw notFound('Asset');
    assertComplete(locked);
    if ((await queue.unfinishedFor('asset.analyse', [asset.id], tx)).has(asset.id)) return null;
    await queue.enqueue(tx, 'asset.analyse', { assetId: asset.id });
    return appendChestEvent(tx, {
      chestId: asset.chest.id,
      kind: ChestEventKind.ASSET_PROCESSING,
      assetId: asset.id,
      data: { stage: ANALYSE_AGAIN_STAGE, percent: 0, status: ProcessingStatus.COMPLETE, error: null },
    });
  });
  if (message) publishChestEvents(bus, [message]);
  return asset;
}

function assertComplete(asset: Asset): void {
  if (asset.status !== ProcessingStatus.COMPLETE) {
    throw conflict(`Only processed memories can be analysed again; this one is ${asset.status.toLowerCase()}${asset.status === ProcessingStatus.FAILED ? ' (retryProcessing processes it again)' : ''}`);
  }
}
