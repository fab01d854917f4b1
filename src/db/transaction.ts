import type { EntityManager } from '@mikro-orm/postgresql';

/**
 * Runs fn in a transaction on this very EntityManager, so entities it already manages (created or
 * changed before the call) are flushed inside the transaction together with fn's own statements.
 * (em.transactional forks, and a fork's flush does not carry the parent's pending changes.)
 */
export async function withinTransaction<T>(em: EntityManager, fn: () => Promise<T>): Promise<T> {
  await em.begin();
  try {
    await em.flush();
    const result = await fn();
    await em.commit();
    return result;
  } catch (err) {
    await em.rollback();
    throw err;
  }
}
