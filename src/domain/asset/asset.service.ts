import type { EntityManager } from '@mikro-orm/postgresql';
import type { Asset } from '../../db/entities/index.js';
import { authorizeChest } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { notFound } from '../errors.js';
import { isUuid } from '../validation.js';
import { loadVisibleAssetsById } from './asset.queries.js';

/** One memory by id: visible ones only, and only to those who may read its chest. */
export async function getAsset(em: EntityManager, actor: Actor, assetId: string): Promise<Asset> {
  const [asset] = isUuid(assetId) ? await loadVisibleAssetsById(em, [assetId]) : [null];
  if (!asset) throw notFound('Asset');
  await authorizeChest(em, actor, asset.chest.id, 'read').catch(() => {
    throw notFound('Asset');
  });
  return asset;
}
