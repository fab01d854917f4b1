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

/**
 * One value many readers wait for (a viewer's access decision on an event, a selection's result
 * for every socket of that viewer): readers that come before it settles are called in turn when it
 * does, in one loop, instead of each holding a promise reaction of its own; later ones from a
 * microtask. A reader must not throw.
 */
export class Outcome<T> {
  private state: 'pending' | 'ok' | 'failed' = 'pending';
  private value: T | undefined;
  private error: unknown;
  private readers: ((value: T) => void)[] = [];
  private failures: ((err: unknown) => void)[] = [];

  constructor(work: Promise<T>) {
    work.then(
      (value) => this.settle('ok', value, undefined),
      (err: unknown) => this.settle('failed', undefined, err),
    );
  }

  read(onValue: (value: T) => void, onError: (err: unknown) => void): void {
    if (this.state === 'pending') {
      this.readers.push(onValue);
      this.failures.push(onError);
    } else if (this.state === 'ok') queueMicrotask(() => onValue(this.value as T));
    else queueMicrotask(() => onError(this.error));
  }

  private settle(state: 'ok' | 'failed', value: T | undefined, error: unknown): void {
    this.state = state;
    this.value = value;
    this.error = error;
    const { readers, failures } = this;
    this.readers = [];
    this.failures = [];
    // One reader that throws (a bug) must not keep the value from the rest: it gets the error instead.
    for (let i = 0; i < readers.length; i++) {
      try {
        if (state === 'ok') readers[i]!(value as T);
        else failures[i]!(error);
      } catch (err) {
        if (state === 'ok') callQuietly(failures[i]!, err);
      }
    }
  }
}

function callQuietly(fail: (err: unknown) => void, err: unknown): void {
  try {
    fail(err);
  } catch {
    // Nothing left to tell: the reader's own error handler failed.
  }
}
