import { EventEmitter, on } from 'node:events';
import type { EventBus } from './events.port.js';

/** Events within one process (the embedded mode, and tests). */
export class InProcessEventBus implements EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per live subscription: many dashboards may watch one chest.
    this.emitter.setMaxListeners(0);
  }

  publish<T>(topic: string, payload: T): void {
    this.emitter.emit(topic, payload);
  }

  async close(): Promise<void> {
    this.emitter.removeAllListeners();
  }

  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T> {
    const finished: IteratorResult<T> = { done: true, value: undefined };
    if (signal?.aborted) {
      return { next: async () => finished, return: async () => finished, [Symbol.asyncIterator]() { return this; } };
    }
    const events = on(this.emitter, topic, { signal }) as AsyncIterableIterator<[T]>;
    return {
      async next() {
        try {
          const r = await events.next();
          return r.done ? finished : { done: false, value: r.value[0] };
        } catch (err) {
          // An abort ends the stream like return() would; it is how a subscriber leaves, not a failure.
          if (signal?.aborted) return finished;
          throw err;
        }
      },
      async return() {
        await events.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}
