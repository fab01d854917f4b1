/**
 * Pub/sub between the parts that do things (uploads, later the worker) and the subscriptions
 * that show them live. In-process here; the worker issue adds a Postgres LISTEN/NOTIFY backend
 * so events cross processes. Payloads are small and carry ids, never secrets.
 */
export interface EventBus {
  publish<T>(topic: string, payload: T): void;
  /** Events on a topic from now on; `return()` on the iterator unsubscribes. */
  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T>;
}

export const topics = {
  /** Upload progress of every upload into one chest. */
  uploads: (chestId: string) => `chest.${chestId}.uploads`,
};
