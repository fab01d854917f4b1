/**
 * A pull without promises, for the iterators between the event bus and a subscriber's socket
 * (the bus's Subscriber, watchChest's stream, sharedSubscribe's results, the websocket protocol's
 * pump). An idle subscriber waits on each of them at once; with `next()` every layer holds a
 * pending promise, its reaction and the closures of its `then` (about 1 KiB for the four layers),
 * with `take()` one closure each. `next()` stays for everything else.
 */
export interface Takeable<T> {
  /**
   * Calls `onResult` once with the next result (or `onError` once), never synchronously from
   * inside this call. A reader must not throw: it is called from the publisher's loop.
   */
  take(onResult: (r: IteratorResult<T>) => void, onError: (err: unknown) => void): void;
}

export const isTakeable = <T>(it: object): it is Takeable<T> => typeof (it as Partial<Takeable<T>>).take === 'function';

/** `it.take(…)` where the iterator offers it, else `it.next().then(…)`. */
export function takeFrom<T>(it: AsyncIterator<T>, onResult: (r: IteratorResult<T>) => void, onError: (err: unknown) => void): void {
  if (isTakeable<T>(it)) it.take(onResult, onError);
  else it.next().then(onResult, onError);
}

/** The promise form, for `next()`. */
export const nextOf = <T>(it: Takeable<T>): Promise<IteratorResult<T>> => new Promise((resolve, reject) => it.take(resolve, reject));
