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
  /**
   * The role `roles` has already answered for this chest in this request, without a promise;
   * undefined while it has not (then ask `roles`). null for anonymous callers. Always what
   * `roles.load` would answer now: it reads the loader's own cache, so `roles.clear` forgets it too.
   */
  knownRole(chestId: string): ChestRole | null | undefined;
}

/** A function for `em` is asked only when a role is first looked up (a request that needs none forks no EntityManager). */
export function createActor(em: EntityManager | (() => EntityManager), accountId: string | null): Actor {
  const entityManager = typeof em === 'function' ? em : () => em;
  const cache = new SettledCache<string, ChestRole | null>();
  return {
    accountId,
    shareGrants: new Set(),
    originalGrants: new Set(),
    knownRole: (chestId) => (accountId ? cache.settled(chestId) : null),
    roles: new DataLoader(async (chestIds: readonly string[]) => {
      if (!accountId) return chestIds.map(() => null);
      const rows = await entityManager().execute<{ chest_id: string; role: ChestRole }[]>(
        'select chest_id, role from membership where account_id = ? and chest_id = any(?::uuid[])',
        [accountId, pgArray(chestIds)],
      );
      const byChest = new Map(rows.map((r) => [r.chest_id, r.role]));
      return chestIds.map((id) => byChest.get(id) ?? null);
    }, { cacheMap: cache }),
  };
}

/**
 * A DataLoader cache that also remembers each promise's value once it has resolved, for callers
 * that can go on without a promise when the answer is already known (per-asset access decisions
 * after the chest's role was loaded). A value is readable only while its own promise is the one
 * cached: a key cleared or replaced before its promise settles never shows the old value.
 */
export class SettledCache<K, V> {
  private readonly promises = new Map<K, Promise<V>>();
  private readonly values = new Map<K, V>();

  get(key: K): Promise<V> | undefined {
    return this.promises.get(key);
  }

  set(key: K, promise: Promise<V>): void {
    this.promises.set(key, promise);
    this.values.delete(key);
    promise.then(
      (value) => {
        if (this.promises.get(key) === promise) this.values.set(key, value);
      },
      () => undefined,
    );
  }

  delete(key: K): void {
    this.promises.delete(key);
    this.values.delete(key);
  }

  clear(): void {
    this.promises.clear();
    this.values.clear();
  }

  /** The resolved value, or undefined while there is none (not asked, pending, failed or cleared). */
  settled(key: K): V | undefined {
    return this.values.get(key);
  }
}
