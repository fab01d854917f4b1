import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventBus } from '../../src/events/events.port.js';

export interface OpenedBuses {
  /** Two "processes": a subscriber on one hears what the other publishes. */
  buses: [EventBus, EventBus];
  close(): Promise<void>;
}

/** Reads n events, failing with what arrived so far instead of hanging until the test timeout. */
export async function take<T>(events: AsyncIterator<T>, n: number, timeoutMs = 10_000): Promise<T[]> {
  const got: T[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`expected ${n} events, got ${got.length}: ${JSON.stringify(got)}`)), timeoutMs);
  });
  try {
    while (got.length < n) {
      const r = await Promise.race([events.next(), timeout]);
      if (r.done) throw new Error(`subscription ended after ${got.length} of ${n} events`);
      got.push(r.value);
    }
    return got;
  } finally {
    clearTimeout(timer);
  }
}

/** What every event bus must do. Each test uses topics of its own, so leftovers cannot leak in. */
export function eventBusContract(name: string, open: () => Promise<OpenedBuses>): void {
  describe(`event bus contract: ${name}`, () => {
    let opened: OpenedBuses;
    let subscriber: EventBus;
    let publisher: EventBus;

    beforeEach(async () => {
      opened = await open();
      [subscriber, publisher] = opened.buses;
    });
    afterEach(async () => {
      await opened?.close();
    });

    const topic = () => `test.${randomUUID()}`;

    it("delivers another process's events in publish order", async () => {
      const t = topic();
      const events = subscriber.subscribe<{ n: number }>(t);
      for (let n = 0; n < 50; n++) publisher.publish(t, { n });
      const got = (await take(events, 50)).map((e) => e.n);
      expect(got, `arrived as ${got.join(',')}`).toEqual(Array.from({ length: 50 }, (_, n) => n));
      await events.return?.();
    });

    it('keeps topics apart', async () => {
      const [a, b] = [topic(), topic()];
      const onA = subscriber.subscribe<string>(a);
      const onB = subscriber.subscribe<string>(b);
      for (const [t, v] of [[a, 'a1'], [b, 'b1'], [a, 'a2'], [b, 'b2'], [a, 'a3']] as const) publisher.publish(t, v);
      // Sorted: ordering has a test of its own, this one is about which events arrive where.
      expect((await take(onA, 3)).sort()).toEqual(['a1', 'a2', 'a3']);
      // Nothing of a's is queued behind b's own events: the next one after them is b's marker.
      expect((await take(onB, 2)).sort()).toEqual(['b1', 'b2']);
      publisher.publish(b, 'b-end');
      expect(await take(onB, 1)).toEqual(['b-end']);
      await onA.return?.();
      await onB.return?.();
    });

    it('gives every event to each of several subscribers, on either side', async () => {
      const t = topic();
      const subs = [subscriber.subscribe<number>(t), subscriber.subscribe<number>(t), publisher.subscribe<number>(t)];
      for (let n = 0; n < 5; n++) publisher.publish(t, n);
      const seen = await Promise.all(subs.map((s) => take(s, 5)));
      expect([...seen[0]!].sort()).toEqual([0, 1, 2, 3, 4]);
      // Whatever the order, it is one order for everyone, publisher's own subscriber included.
      expect(seen).toEqual([seen[0], seen[0], seen[0]]);
      for (const s of subs) await s.return?.();
    });

    it('unsubscribes on return(): the iterator is done and hears nothing more', async () => {
      const t = topic();
      const leaving = subscriber.subscribe<number>(t);
      const staying = subscriber.subscribe<number>(t);
      publisher.publish(t, 1);
      expect(await take(leaving, 1)).toEqual([1]);
      await expect(leaving.return!()).resolves.toMatchObject({ done: true });
      publisher.publish(t, 2);
      // The other subscriber proves event 2 went out and came back before we look.
      expect(await take(staying, 2)).toEqual([1, 2]);
      await expect(leaving.next()).resolves.toEqual({ done: true, value: undefined });
      await staying.return?.();
    });

    it('ends a subscription when its AbortSignal fires', async () => {
      const t = topic();
      const ac = new AbortController();
      const aborted = subscriber.subscribe<number>(t, ac.signal);
      const witness = subscriber.subscribe<number>(t);
      publisher.publish(t, 1);
      expect(await take(aborted, 1)).toEqual([1]);
      const pending = aborted.next();
      ac.abort();
      // A waiting reader is released: either a clean end or an AbortError, never a hang.
      const outcome = await pending.then(
        (r) => (r.done ? 'done' : `value ${JSON.stringify(r.value)}`),
        (err: unknown) => (err instanceof Error && err.name === 'AbortError' ? 'done' : `error ${String(err)}`),
      );
      expect(outcome).toBe('done');
      publisher.publish(t, 2);
      expect(await take(witness, 2)).toEqual([1, 2]);
      await expect(aborted.next()).resolves.toEqual({ done: true, value: undefined });
      await witness.return?.();
    });
  });
}
