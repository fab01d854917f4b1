import { describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
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
});
