/**
 * A pull without promises or closures, for the iterators between the event bus and a subscriber's
 * socket: the bus's Subscriber, watchChest's stream, sharedSubscribe's results and the websocket
 * protocol's pump. Ten thousand sockets wait on each of them at once, and every event goes through
 * all four for every socket. With `next()` each layer holds a pending promise, its reaction and the
 * closures of its `then` while it waits (about 1 KiB for the four layers), and makes them again
 * for every event. With `take(sink)` the consumer passes itself (an object it already is) and is
 * called back on it; nothing is allocated per wait. `next()` stays for everything else.
 */
export interface Sink<T> {
  /** The next result. Must not throw: it is called from the publisher's loop. */
  result(r: IteratorResult<T>): void;
  /** The source failed; it gives nothing more. Must not throw. */
  error(err: unknown): void;
}

export interface Takeable<T> {
  /** Calls `sink.result` (or `sink.error`) once, never from inside this call. One take at a time. */
  take(sink: Sink<T>): void;
}

export const isTakeable = <T>(it: object): it is Takeable<T> => typeof (it as Partial<Takeable<T>>).take === 'function';

/** `it.take(sink)` where the iterator offers it, else `it.next()` with its result handed to the sink. */
export function takeFrom<T>(it: AsyncIterator<T>, sink: Sink<T>): void {
  if (isTakeable<T>(it)) it.take(sink);
  else
    it.next().then(
      (r) => sink.result(r),
      (err: unknown) => sink.error(err),
    );
}

/** The promise form, for `next()`. */
export function nextOf<T>(it: Takeable<T>): Promise<IteratorResult<T>> {
  return new Promise((resolve, reject) => it.take({ result: resolve, error: reject }));
}

/** Whoever waits for an Outcome. */
export interface OutcomeReader<T> {
  settled(value: T): void;
  failed(err: unknown): void;
}

/**
 * One value many readers wait for (a viewer's access decision on an event, a selection's result
 * for every socket of that viewer): readers that came before it settles are called in turn when
 * it does, in one loop, instead of each holding a promise reaction of its own; later ones from a
 * microtask. A reader that throws (a bug) gets the error; the others still get the value.
 */
export class Outcome<T> {
  private state: 'pending' | 'ok' | 'failed' = 'pending';
  private value: T | undefined;
  private error: unknown;
  private readers: OutcomeReader<T>[] = [];

  constructor(work: Promise<T>) {
    work.then(
      (value) => this.settle('ok', value, undefined),
      (err: unknown) => this.settle('failed', undefined, err),
    );
  }

  read(reader: OutcomeReader<T>): void {
    if (this.state === 'pending') this.readers.push(reader);
    else queueMicrotask(() => this.deliver(reader));
  }

  private settle(state: 'ok' | 'failed', value: T | undefined, error: unknown): void {
    this.state = state;
    this.value = value;
    this.error = error;
    const { readers } = this;
    this.readers = [];
    for (const reader of readers) this.deliver(reader);
  }

  private deliver(reader: OutcomeReader<T>): void {
    try {
      if (this.state === 'ok') reader.settled(this.value as T);
      else reader.failed(this.error);
    } catch (err) {
      if (this.state !== 'ok') return;
      try {
        reader.failed(err);
      } catch {
        // Nothing left to tell: the reader's own error handler failed.
      }
    }
  }
}

/**
 * A stage between a source and the one consumer that takes from it (watchChest's stream over the
 * bus, sharedSubscribe's results over that stream): it is its source's sink, remembers who waits
 * and hands each result on once.
 */
export abstract class Relay<T, S> implements Takeable<T>, Sink<S> {
  /** Whoever took and waits (one take at a time). */
  private downstream: Sink<T> | null = null;

  protected constructor(protected readonly source: AsyncIterator<S>) {}

  take(sink: Sink<T>): void {
    this.downstream = sink;
    this.pull();
  }

  next(): Promise<IteratorResult<T>> {
    return nextOf(this);
  }

  /** Ends the stream: the source is let go of (an unsubscribe). */
  abstract return(): Promise<IteratorResult<T>>;

  async throw(err: unknown): Promise<IteratorResult<T>> {
    await this.return();
    throw err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  /** Sink: the source's next result. */
  abstract result(r: IteratorResult<S>): void;

  /** Sink: the source failed. */
  error(err: unknown): void {
    this.failed(err);
  }

  /** Asks the source for what the consumer waits for (again, after a result it does not hand on). */
  protected pull(): void {
    takeFrom(this.source, this);
  }

  protected handOn(r: IteratorResult<T>): void {
    const sink = this.downstream;
    this.downstream = null;
    sink?.result(r);
  }

  /** The source or the work on its result failed: the consumer hears it. */
  failed(err: unknown): void {
    const sink = this.downstream;
    this.downstream = null;
    sink?.error(err);
  }
}
