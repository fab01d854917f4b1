/**
 * Pub/sub between the parts that do things (uploads, the worker) and the subscriptions that show
 * them live. Two backends: in-process (embedded mode, one process) and PostgreSQL LISTEN/NOTIFY
 * (served mode, so a worker's events reach subscribers on every API process). Both pass the same
 * contract suite (test/events/). Payloads are small, carry ids and never secrets.
 */
export interface EventBus {
  publish<T>(topic: string, payload: T): void;
  /** Events on a topic from now on; `return()` on the iterator unsubscribes. */
  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T>;
  close(): Promise<void>;
}

export const topics = {
  /** Upload progress of every upload into one chest (not stored: progress is only worth seeing live). */
  uploads: (chestId: string) => `chest.${chestId}.uploads`,
  /** A chest's recorded events (processing, new memories, stories, contributions), in sequence. */
  chest: (chestId: string) => `chest.${chestId}.events`,
  /** A story being written: small signals only; the narrative so far is kept in the story row. */
  story: (storyId: string) => `story.${storyId}.progress`,
  /** A chest's archives being written (domain/export): progress and completion signals; the row holds the state. */
  exports: (chestId: string) => `chest.${chestId}.exports`,
};
