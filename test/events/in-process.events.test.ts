import { EventEmitter, on } from 'node:events';
import { describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { isTakeable, takeFrom } from '../../src/events/take.js';
import { eventBusContract } from './events.contract.js';

// One bus is both ends: publisher and subscriber share the process (embedded mode, the fast tier).
eventBusContract('in-process', async () => {
  const bus = new InProcessEventBus();
  return { buses: [bus, bus], close: () => bus.close() };
});

describe('in-process bus subscribers', () => {
  it('leave nothing behind when they return or their signal aborts, and a waiting reader is released', async () => {
    const bus = new InProcessEventBus();
    const returned = bus.subscribe<number>('t');
    const controller = new AbortController();
    const aborted = bus.subscribe<number>('t', controller.signal);
    expect(bus.subscriberCount('t')).toBe(2);

    bus.publish('t', 1);
    expect(await returned.next()).toEqual({ done: false, value: 1 });
    const waiting = aborted.next(); // reads the queued 1
    expect(await waiting).toEqual({ done: false, value: 1 });
    const pending = aborted.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    await returned.return?.();
    expect(bus.subscriberCount('t')).toBe(0);
    bus.publish('t', 2); // nobody left to hold it
    expect(await returned.next()).toEqual({ done: true, value: undefined });
    await bus.close();
  });

  it('take() reads as next() does, without a promise, and never calls its reader from inside the call', async () => {
    const bus = new InProcessEventBus();
    const sub = bus.subscribe<number>('t');
    expect(isTakeable(sub)).toBe(true);
    const got: IteratorResult<number>[] = [];
    const read = () =>
      new Promise<void>((resolve, reject) =>
        takeFrom(sub, {
          result: (r) => {
            got.push(r);
            resolve();
          },
          error: reject,
        }),
      );
    bus.publish('t', 1);
    const first = read();
    // Queued: still handed over later, not during take().
    expect(got).toEqual([]);
    await first;
    // Two readers waiting at once get the next two events in turn.
    const second = read();
    const third = read();
    bus.publish('t', 2);
    bus.publish('t', 3);
    await Promise.all([second, third]);
    const ending = read();
    await sub.return?.();
    await ending;
    expect(got).toEqual([
      { done: false, value: 1 },
      { done: false, value: 2 },
      { done: false, value: 3 },
      { done: true, value: undefined },
    ]);
    await bus.close();
  });
});

/**
 * The bus's own Subscriber replaced `events.on()` (32 KiB per subscriber before any event). It must
 * read as `events.on()` did, so the same cases run against a bus on `events.on()` (the code it
 * replaced) as the reference.
 */
class EventsOnBus {
  private readonly emitter = new EventEmitter().setMaxListeners(0);
  publish<T>(topic: string, payload: T): void {
    this.emitter.emit(topic, payload);
  }
  subscribe<T>(topic: string): AsyncIterableIterator<T> {
    const events = on(this.emitter, topic) as AsyncIterableIterator<[T]>;
    return {
      next: async () => {
        const r = await events.next();
        return r.done ? { done: true, value: undefined } : { done: false, value: r.value[0] };
      },
      return: async () => {
        await events.return?.();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]() {
        return this;
      },
    };
  }
}

describe.each([
  ['the in-process bus', () => new InProcessEventBus()],
  ['events.on (reference)', () => new EventsOnBus()],
])('%s reads as events.on does', (_name, open) => {
  it('keeps every event a reader has not read yet, in order, however many (more than 2,048)', async () => {
    const bus = open();
    const events = bus.subscribe<number>('t');
    for (let n = 0; n < 5000; n++) bus.publish('t', n);
    const got: number[] = [];
    for (let n = 0; n < 5000; n++) {
      const r = await events.next();
      if (!r.done) got.push(r.value);
    }
    expect(got).toEqual(Array.from({ length: 5000 }, (_, n) => n));
    await events.return?.();
  });

  it('gives reads waiting at once the next events in turn', async () => {
    const bus = open();
    const events = bus.subscribe<string>('t');
    const [first, second, third] = [events.next(), events.next(), events.next()];
    bus.publish('t', 'a');
    bus.publish('t', 'b');
    expect(await first).toEqual({ done: false, value: 'a' });
    expect(await second).toEqual({ done: false, value: 'b' });
    // return() releases the read still waiting, and the iterator is done.
    await events.return?.();
    expect(await third).toEqual({ done: true, value: undefined });
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });
});

describe('Outcome (events/take.ts)', () => {
  it('calls readers that came before it settled in turn, later ones from a microtask, and one that throws gets the error', async () => {
    const { Outcome } = await import('../../src/events/take.js');
    let settle!: (v: number) => void;
    const outcome = new Outcome(new Promise<number>((resolve) => (settle = resolve)));
    const seen: string[] = [];
    const reader = (name: string, throws = false) => ({
      settled: (v: number) => {
        if (throws) throw new Error('bug');
        seen.push(`${name}${v}`);
      },
      failed: (err: unknown) => seen.push(`${name} got ${(err as Error).message}`),
    });
    outcome.read(reader('a'));
    outcome.read(reader('b', true));
    outcome.read(reader('c'));
    settle(7);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['a7', 'b got bug', 'c7']);
    outcome.read(reader('late'));
    expect(seen).toHaveLength(3);
    await Promise.resolve();
    expect(seen).toEqual(['a7', 'b got bug', 'c7', 'late7']);

    const failed = new Outcome<number>(Promise.reject(new Error('no')));
    failed.read(reader('x'));
    await new Promise((resolve) => setImmediate(resolve));
    failed.read(reader('y'));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.slice(4)).toEqual(['x got no', 'y got no']);
  });
});
