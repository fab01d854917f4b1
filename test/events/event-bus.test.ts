import { once } from 'node:events';
import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { MAX_PAYLOAD_BYTES, PostgresEventBus } from '../../src/events/postgres.events.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { eventBusContract, take } from './events.contract.js';

const silent = pino({ level: 'silent' });

// One database for the file: NOTIFY is per database, so other test files cannot cross-talk.
let db: Promise<TestDatabase> | undefined;
const database = () => (db ??= createTestDatabase('postgres'));
afterAll(async () => {
  await (await db)?.close();
});

async function openPostgresBuses(log = silent): Promise<{ buses: [PostgresEventBus, PostgresEventBus]; close(): Promise<void> }> {
  const { url } = await database();
  const buses: [PostgresEventBus, PostgresEventBus] = [new PostgresEventBus(url, log), new PostgresEventBus(url, log)];
  // start() resolves once the listener has run LISTEN, so nothing published afterwards is missed.
  await Promise.all(buses.map((b) => b.start()));
  return { buses, close: async () => void (await Promise.all(buses.map((b) => b.close()))) };
}

// The in-process bus runs the same contract in in-process.events.test.ts (the fast tier: no database).
eventBusContract('postgres (LISTEN/NOTIFY)', openPostgresBuses);

describe('postgres event bus specifics', () => {
  it('does not send a payload over the NOTIFY limit, logs it, and keeps delivering', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        done();
      },
    });
    const { buses, close } = await openPostgresBuses(pino({ level: 'warn' }, sink));
    try {
      const [subscriber, publisher] = buses;
      const topic = 'test.oversize';
      const events = subscriber.subscribe<{ i: number; s: string }>(topic);
      // The envelope is {"t":topic,"p":{"i":n,"s":"xxx..."}}: pad s so it is exactly at, then one byte over, the limit.
      const overhead = Buffer.byteLength(JSON.stringify({ t: topic, p: { i: 0, s: '' } }));
      const fits = { i: 0, s: 'x'.repeat(MAX_PAYLOAD_BYTES - overhead) };
      const tooBig = { i: 1, s: 'x'.repeat(MAX_PAYLOAD_BYTES - overhead + 1) };
      publisher.publish(topic, fits);
      publisher.publish(topic, tooBig);
      publisher.publish(topic, { i: 2, s: 'small' });
      // Sorted: ordering is the contract's business; this is about what arrives at all.
      expect((await take(events, 2)).map((e) => [e.i, e.s.length]).sort((x, y) => x[0]! - y[0]!)).toEqual([
        [0, fits.s.length],
        [2, 5],
      ]);
      expect(lines.filter((l) => l.msg === 'event too large for NOTIFY; not sent')).toEqual([
        expect.objectContaining({ topic, bytes: MAX_PAYLOAD_BYTES + 1 }),
      ]);
      // Nothing else went wrong on the way (no failed NOTIFY, no lost listener).
      expect(lines).toHaveLength(1);
      await events.return?.();
    } finally {
      await close();
    }
  });

  it('reconnects after the server drops its listener connection, and later events arrive', async () => {
    const { buses, close } = await openPostgresBuses();
    const admin = new pg.Client({ connectionString: (await database()).url });
    await admin.connect();
    try {
      const [subscriber, publisher] = buses;
      const topic = 'test.reconnect';
      const events = subscriber.subscribe<number>(topic);
      publisher.publish(topic, 1);
      expect(await take(events, 1)).toEqual([1]);

      const listeners = async () =>
        (await admin.query<{ n: number }>("select count(*)::int as n from pg_stat_activity where query like 'listen%' and datname = current_database()")).rows[0]?.n;
      // Listeners of buses closed by earlier tests may take a moment to leave pg_stat_activity.
      for (let i = 0; i < 100 && (await listeners()) !== 2; i++) await sleep(50);
      expect(await listeners()).toBe(2);

      const reconnected = buses.map((b) => once(b.status, 'connected'));
      const { rows } = await admin.query<{ killed: boolean }>(
        "select pg_terminate_backend(pid) as killed from pg_stat_activity where query like 'listen%' and datname = current_database()",
      );
      expect(rows.map((r) => r.killed)).toEqual([true, true]);
      await Promise.all(reconnected);
      // Both listen again, on new connections.
      expect(await listeners()).toBe(2);
      publisher.publish(topic, 2);
      publisher.publish(topic, 3);
      expect(await take(events, 2)).toEqual([2, 3]);
      await events.return?.();
    } finally {
      await admin.end();
      await close();
    }
  });
});
