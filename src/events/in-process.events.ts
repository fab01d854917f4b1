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
    const events = on(this.emitter, topic, { signal }) as AsyncIterableIterator<[T]>;
    return {
      async next() {
        const r = await events.next();
        return r.done ? { done: true, value: undefined } : { done: false, value: r.value[0] };
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
