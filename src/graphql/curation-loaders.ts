import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type Account, Account as AccountEntity } from '../db/entities/index.js';
import { type BinPageKey, loadBinPages } from '../domain/asset/bin.queries.js';
import { type ContributionAssetPageKey, loadContributionAssetPages } from '../domain/contribution/contribution-memories.js';
import { pgArray } from '../domain/batch.js';
import { readModel } from '../domain/read-model.js';

/** The bin's and moderation's loaders (issue 15), part of createLoaders. */
export function curationLoaders(em: EntityManager) {
  const byJson = { cacheKeyFn: (k: unknown) => JSON.stringify(k) };
  return {
    /** Chest.bin pages, by chest. */
    binPages: new DataLoader((keys: readonly BinPageKey[]) => loadBinPages(em, keys), byJson),
    /** Contribution.assets pages, by contribution. */
    contributionAssetPages: new DataLoader((keys: readonly ContributionAssetPageKey[]) => loadContributionAssetPages(em, keys), byJson),
    /** Accounts by id (Asset.deletedBy); gone ones answer null. */
    accountsById: new DataLoader(async (ids: readonly string[]): Promise<(Account | null)[]> => {
      const rows = await em.execute<Record<string, unknown>[]>('select * from account where id = any(?::uuid[])', [pgArray(ids)]);
      const byId = new Map(rows.map((r) => [r.id as string, readModel(em, AccountEntity, r)]));
      return ids.map((id) => byId.get(id) ?? null);
    }),
  };
}
