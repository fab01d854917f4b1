import type { EventBus } from './events.port.js';
import { nextOf, type Sink, type Takeable } from './take.js';

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * One subscriber: events it has not read yet, and the readers waiting for the next ones. Kept
 * small on purpose: a public memorial may hold ten thousand of these on one topic, and
 * `events.on()` allocates two 2,048-slot queues (32 KiB) per subscriber before any event.
 * Otherwise it reads as `events.on()` does: every event is kept until read (nothing is dropped,
 * however far behind the reader is), and reads waiting at once get the next events in turn.
 */
class Subscriber<T> implements AsyncIterableIterator<T>, Takeable<T> {
  private queue: IteratorYieldResult<T>[] | null = null;
  /** The reader waiting longest; the others, when several wait at once (rare), queue behind it. */
  private waiting: Sink<T> | null = null;
  private moreWaiting: Sink<T>[] | null = null;
  private done = false;

  /** Called once when it ends (a subscriber with an abort signal stops listening to it). */
  onEnd: (() => void) | null = null;

  constructor(
    private readonly topics: Map<string, Set<Subscriber<unknown>>>,
    readonly topic: string,
  ) {}

  /** Leaves its topic. */
  private leave(): void {
    const set = this.topics.get(this.topic);
    if (set) {
      set.delete(this as Subscriber<unknown>);
      if (set.size === 0) this.topics.delete(this.topic);
    }
    this.onEnd?.();
  }

  /** One event, as the result every subscriber of the topic gets (the same object: do not change it). */
  push(r: IteratorYieldResult<T>): void {
    if (this.done) return;
    const waiting = this.waiting;
    if (!waiting) return void (this.queue ??= []).push(r);
    this.waiting = this.moreWaiting?.shift() ?? null;
    if (this.moreWaiting?.length === 0) this.moreWaiting = null;
    waiting.result(r);
  }

  next(): Promise<IteratorResult<T>> {
    return nextOf(this);
  }

  /** As next(), without a promise: an idle subscriber's wait is its sink alone (events/take.ts). */
  take(sink: Sink<T>): void {
    if (this.queue?.length) {
      const r = this.queue.shift()!;
      if (this.queue.length === 0) this.queue = null;
      return queueMicrotask(() => sink.result(r));
    }
    if (this.done) return queueMicrotask(() => sink.result(DONE));
    if (!this.waiting) this.waiting = sink;
    else (this.moreWaiting ??= []).push(sink);
  }

  /** Unsubscribes: the iterator is done, unread events are dropped, every waiting reader is released. */
  end(): void {
    if (this.done) return;
    this.done = true;
    this.queue = null;
    this.leave();
    const readers = [this.waiting, ...(this.moreWaiting ?? [])];
    this.waiting = null;
    this.moreWaiting = null;
    for (const r of readers) r?.result(DONE);
  }

  async return(): Promise<IteratorResult<T>> {
    this.end();
    return { done: true, value: undefined };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

/** Events within one process (the embedded mode, and tests). */
export class InProcessEventBus implements EventBus {
  /** Subscribers per topic; every one of them gets the same payload object. */
  private readonly topics = new Map<string, Set<Subscriber<unknown>>>();

  publish<T>(topic: string, payload: T): void {
    const subscribers = this.topics.get(topic);
    if (!subscribers) return;
    const r: IteratorYieldResult<T> = { done: false, value: payload };
    for (const s of subscribers) s.push(r);
  }

  async close(): Promise<void> {
    for (const subscribers of [...this.topics.values()]) for (const s of [...subscribers]) s.end();
    this.topics.clear();
  }

  /** How many subscribers a topic has (tests: an unsubscribed socket leaves nothing behind). */
  subscriberCount(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }

  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T> {
    // A method, not a closure per subscriber: ten thousand idle subscribers each hold it.
    const subscriber = new Subscriber<T>(this.topics, topic);
    if (!signal) return this.join(subscriber);
    // An abort ends the stream like return() would; it is how a subscriber leaves, not a failure.
    const onAbort = () => subscriber.end();
    subscriber.onEnd = () => signal.removeEventListener('abort', onAbort);
    if (signal.aborted) {
      subscriber.end();
      return subscriber;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    return this.join(subscriber);
  }

  private join<T>(subscriber: Subscriber<T>): Subscriber<T> {
    let set = this.topics.get(subscriber.topic);
    if (!set) this.topics.set(subscriber.topic, (set = new Set()));
    set.add(subscriber as Subscriber<unknown>);
    return subscriber;
  }
}
