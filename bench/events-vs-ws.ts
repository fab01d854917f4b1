/**
 * One processing event fanned out to N live subscribers: the app's whole path (the event recorded
 * in its own transaction, published on the bus, access checked again (once per distinct viewer) against
 * the database, the GraphQL result built and sent over graphql-ws) against a bare `ws` server
 * sending one small JSON message to N `ws` clients — the floor any WebSocket fan-out sits on.
 * Time runs until the last of the N clients has the message. Same process (server and clients),
 * same loopback; reports the ratio for the embedded mode (PGlite, in-process bus) and the served
 * mode (PostgreSQL, LISTEN/NOTIFY bus).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { EntityManager } from '@mikro-orm/postgresql';
import { type Client, createClient } from 'graphql-ws';
import { pino } from 'pino';
import WebSocket, { WebSocketServer } from 'ws';
import { loadConfig } from '../src/config.js';
import { resolveSecretKey } from '../src/secret-key.js';
import { openDatabase } from '../src/db/database.js';
import { Chest } from '../src/db/entities/index.js';
import { ChestEventKind, ProcessingStatus } from '../src/db/enums.js';
import { emitChestEvent } from '../src/domain/events/chest-events.service.js';
import type { EventBus } from '../src/events/events.port.js';
import { createHttpApp, listen } from '../src/server.js';
import { openServices } from '../src/services.js';
import { makeAsset } from '../test/support/factories.js';
import { startTestServer } from '../test/support/server.js';
import { ownerWithChest } from './fanout/owner-chest.js';

const SUBSCRIBERS = 200;
const RUNS = 10;
/** The bare broadcast takes milliseconds: more rounds keep its mean steady on a busy machine. */
const BASELINE_RUNS = 100;
const WARMUP = 3;
const SUBSCRIPTION = `subscription($c: ID!) { assetProcessing(chestId: $c) { seq stage percent status error asset { id } } }`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Counts arrivals per message key; `all(key)` resolves when every one of `n` clients has it. */
class Arrivals {
  private readonly seen = new Map<number, { count: number; done: Promise<void>; resolve: () => void }>();

  constructor(private readonly n: number) {}

  add(key: number): void {
    const e = this.entry(key);
    if (++e.count === this.n) e.resolve();
  }

  async all(key: number, timeoutMs = 60_000): Promise<void> {
    const e = this.entry(key);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`message ${key} reached ${e.count} of ${this.n} clients in ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      await Promise.race([e.done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  private entry(key: number) {
    let e = this.seen.get(key);
    if (!e) {
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      e = { count: 0, done, resolve };
      this.seen.set(key, e);
    }
    return e;
  }
}

/** A bare ws server and N bare ws clients; one JSON message (shaped like a graphql-ws `next`) per round. */
async function rawBroadcast(): Promise<number> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening');
  const url = `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`;
  const arrivals = new Arrivals(SUBSCRIBERS);
  const sockets: WebSocket[] = [];
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const ws = new WebSocket(url);
      ws.on('message', (data) => arrivals.add((JSON.parse(String(data)) as { payload: { data: { assetProcessing: { seq: number } } } }).payload.data.assetProcessing.seq));
      sockets.push(ws);
    }
    await Promise.all(sockets.map((s) => once(s, 'open')));
    while (wss.clients.size < SUBSCRIBERS) await sleep(5);

    const assetId = randomUUID();
    const message = (seq: number) =>
      JSON.stringify({
        id: randomUUID(),
        type: 'next',
        payload: { data: { assetProcessing: { seq, stage: 'thumbnails', percent: seq % 100, status: 'PROCESSING', error: null, asset: { id: assetId } } } },
      });
    let total = 0;
    for (let r = 0; r < WARMUP + BASELINE_RUNS; r++) {
      const t0 = performance.now();
      const text = message(r);
      for (const client of wss.clients) client.send(text);
      await arrivals.all(r);
      if (r >= WARMUP) total += performance.now() - t0;
    }
    return total / BASELINE_RUNS;
  } finally {
    for (const s of sockets) s.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
}

interface Target {
  url: string;
  em(): EntityManager;
  bus: EventBus;
  stop(): Promise<void>;
}

/** The embedded mode without its worker: PGlite under a temporary DATA_DIR, the in-process bus. */
async function embedded(): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dmc-bench-events-'));
  const config = await resolveSecretKey(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent' }));
  const log = pino({ level: 'silent' });
  const database = await openDatabase(config, log);
  const services = await openServices(config, database, log, { supervise: false });
  const app = await createHttpApp(config, database, log, services);
  await listen(app, '127.0.0.1', 0);
  return {
    url: app.url(),
    em: () => database.orm.em.fork(),
    bus: services.events,
    async stop() {
      await app.close();
      await services.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The served mode: a fresh PostgreSQL database, the LISTEN/NOTIFY bus (what the worker publishes on). */
async function served(): Promise<Target> {
  const server = await startTestServer();
  return { url: server.app.url(), em: () => server.database.orm.em.fork(), bus: server.app.services.events, stop: () => server.stop() };
}

/** ms per event until all N graphql-ws subscribers have it, and ms of that spent in emitChestEvent. */
async function appFanOut(target: Target): Promise<{ ms: number; emitMs: number }> {
  const { token, chestId } = await ownerWithChest(target.url, `bench-${randomUUID().slice(0, 8)}@example.test`);
  const em = target.em();
  const asset = await makeAsset(em, await em.findOneOrFail(Chest, { id: chestId }));

  const arrivals = new Arrivals(SUBSCRIBERS);
  const heard = new Set<number>();
  let failure: unknown = null;
  let closing = false;
  const clients: Client[] = [];
  const wsUrl = `${target.url.replace(/^http/, 'ws')}/graphql`;
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const client = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, lazy: false, retryAttempts: 0 });
      clients.push(client);
      client.subscribe<{ assetProcessing: { seq: number } }>(
        { query: SUBSCRIPTION, variables: { c: chestId } },
        {
          next: (r) => {
            if (r.errors || !r.data) failure ??= new Error(`subscription result: ${JSON.stringify(r.errors)}`);
            else {
              heard.add(i);
              arrivals.add(r.data.assetProcessing.seq);
            }
          },
          error: (err) => {
            if (!closing) failure ??= err instanceof Error ? err : new Error(`subscription failed: ${JSON.stringify(err)}`);
          },
          complete: () => undefined,
        },
      );
    }

    let percent = 0;
    const emit = () =>
      emitChestEvent(target.em(), target.bus, {
        chestId,
        kind: ChestEventKind.ASSET_PROCESSING,
        assetId: asset.id,
        data: { stage: 'thumbnails', percent: (percent = (percent + 1) % 100), status: ProcessingStatus.PROCESSING, error: null },
      });

    // graphql-ws does not say when a subscription is running on the server: publish until every
    // client has had an event. The last one then reached all of them (each was subscribed by then).
    const deadline = Date.now() + 120_000;
    let last = await emit();
    for (;;) {
      await sleep(100);
      if (failure) throw failure;
      if (heard.size === SUBSCRIBERS) break;
      if (Date.now() > deadline) throw new Error(`only ${heard.size} of ${SUBSCRIBERS} subscriptions became live`);
      last = await emit();
    }
    await arrivals.all(last.seq);

    let total = 0;
    let emitTotal = 0;
    for (let r = 0; r < WARMUP + RUNS; r++) {
      const t0 = performance.now();
      const { seq } = await emit();
      const t1 = performance.now();
      await arrivals.all(seq);
      if (failure) throw failure;
      if (r >= WARMUP) {
        total += performance.now() - t0;
        emitTotal += t1 - t0;
      }
    }
    return { ms: total / RUNS, emitMs: emitTotal / RUNS };
  } finally {
    closing = true;
    await Promise.all(clients.map((c) => c.dispose()));
  }
}

export async function run(): Promise<void> {
  const baseline = await rawBroadcast();
  const rows: Record<string, Record<string, string>> = {
    'raw ws broadcast (baseline)': { 'ms/event': baseline.toFixed(2), 'µs/subscriber': ((baseline * 1000) / SUBSCRIBERS).toFixed(0), 'of it emit ms': '-', ratio: '1.00' },
  };
  for (const [name, start] of [
    ['embedded: PGlite, in-process bus', embedded],
    ['served: PostgreSQL, LISTEN/NOTIFY', served],
  ] as const) {
    const target = await start();
    try {
      const { ms, emitMs } = await appFanOut(target);
      rows[`assetProcessing, ${name}`] = { 'ms/event': ms.toFixed(2), 'µs/subscriber': ((ms * 1000) / SUBSCRIBERS).toFixed(0), 'of it emit ms': emitMs.toFixed(2), ratio: (ms / baseline).toFixed(2) };
    } finally {
      await target.stop();
    }
  }
  console.log(`\nevents-vs-ws: one event to ${SUBSCRIBERS} WebSocket subscribers (one connection each) of one chest, ${RUNS} runs (baseline ${BASELINE_RUNS}), until the last one has it`);
  console.table(rows);
  console.log('All clients here are one viewer (like many tabs, or a public memorial\'s anonymous visitors): access is re-checked and the selection executed once per event per distinct viewer, then sent to every socket. "emit" is the event\'s own transaction.');
}
