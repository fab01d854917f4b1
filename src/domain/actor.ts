import DataLoader from 'dataloader';
import type { EntityManager } from '@mikro-orm/postgresql';
import { ChestRole } from '../db/enums.js';
import { pgArray } from './batch.js';

/**
 * Who is asking, for one request (or one websocket connection).
 */
export interface Actor {
  /** The signed-in account, or null for anonymous callers and guests. */
  accountId: string | null;
  /** Chests for which this request presented a valid share token. */
  shareGrants: Set<string>;
  /** Chests whose view link (presented in this request) also hands out originals (allowOriginals). */
  originalGrants: Set<string>;
  /** This account's role per chest, batched and cached for the request. */
  roles: DataLoader<string, ChestRole | null>;
}

export function createActor(em: EntityManager, accountId: string | null): Actor {
  return {
    accountId,
    shareGrants: new Set(),
    originalGrants: new Set(),
    roles: new DataLoader(async (chestIds: readonly string[]) => {
      if (!accountId) return chestIds.map(() => null);
      const rows = await em.execute<{ chest_id: string; role: ChestRole }[]>(
        'select chest_id, role from membership where account_id = ? and chest_id = any(?::uuid[])',
        [accountId, pgArray(chestIds)],
      );
      const byChest = new Map(rows.map((r) => [r.chest_id, r.role]));
      return chestIds.map((id) => byChest.get(id) ?? null);
    }),
  };
}
