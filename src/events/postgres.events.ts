import { EventEmitter } from 'node:events';
import pg from 'pg';
import type { Logger } from '../logger.js';
import type { EventBus } from './events.port.js';
import { InProcessEventBus } from './in-process.events.js';

/** One channel for every topic: a process LISTENs once, whatever its subscribers watch. */
export const CHANNEL = 'dmc_events';
/** NOTIFY refuses payloads of 8000 bytes or more; ours carry ids and a little state. */
export const MAX_PAYLOAD_BYTES = 7999;

interface Envelope {
  t: string;
  p: unknown;
}

/** Bounds on waiting for Postgres, so a hung database is noticed (served mode; docs/operations.md "Outages"). */
export interface EventBusTimeouts {
  /** Connecting the listener, or a publish waiting for a pooled connection (DB_ACQUIRE_TIMEOUT_SECONDS). */
  connectMs: number;
  /** One pg_notify may wait this long for its answer (DB_STATEMENT_TIMEOUT_SECONDS + 1 s). */
  queryMs: number;
  /**
   * Every this often the listener repeats its LISTEN (a no-op with an answer); one still unanswered at the next tick means a
   * silent connection (a frozen server or a black-holed network sends no error), which is then
   * dropped and replaced (EVENT_LISTENER_HEARTBEAT_SECONDS).
   */
  heartbeatMs: number;
}

export const DEFAULT_EVENT_BUS_TIMEOUTS: EventBusTimeouts = { connectMs: 10_000, queryMs: 31_000, heartbeatMs: 10_000 };

/**
 * Publishes waiting for a database that does not answer are dropped past this many (and logged):
 * delivery is at most once anyway, and a backlog would come out late and all at once.
 */
export const MAX_PENDING_PUBLISHES = 1000;

/**
 * Events across processes through PostgreSQL LISTEN/NOTIFY (served mode): a worker's progress
 * reaches subscribers on every API replica. Each process holds one dedicated LISTEN connection and
 * fans notifications out locally; publishing is one `pg_notify` on a small pool. A publisher also
 * hears its own events through Postgres, so every subscriber sees one ordering.
 *
 * Delivery is at most once: notifications sent while a listener reconnects are lost. Durable
 * chest events are also stored with a per-chest sequence, and clients catch up with chestEvents.
 *
 * Outages. A dropped listener connection errors and is replaced (backoff up to 30 s); a silent one
 * (hung server) is found by the heartbeat and replaced the same way. Publishes are bounded by the
 * connect and query timeouts, so a hung database costs a logged "event not published", never a
 * stuck queue of them.
 */
export class PostgresEventBus implements EventBus {
  private readonly local = new InProcessEventBus();
  private readonly pool: pg.Pool;
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  /** The last NOTIFY sent; each waits for the one before, so they commit in publish order. */
  private publishing: Promise<unknown> = Promise.resolve();
  private pendingPublishes = 0;
  /** Fires 'connected' after every (re)LISTEN, so tests and callers can wait for it. */
  readonly status = new EventEmitter();

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    private readonly timeouts: EventBusTimeouts = DEFAULT_EVENT_BUS_TIMEOUTS,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 2, connectionTimeoutMillis: timeouts.connectMs, query_timeout: timeouts.queryMs });
    this.pool.on('error', (err) => log.warn({ err }, 'event bus pool connection lost'));
  }

  /** Connects the listener; rejects if Postgres cannot be reached at start. */
  async start(): Promise<void> {
    await this.connect();
  }

  publish<T>(topic: string, payload: T): void {
    const text = JSON.stringify({ t: topic, p: payload } satisfies Envelope);
    if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
      // A programming error: payloads are ids and small state. Never truncate silently.
      this.log.error({ topic, bytes: Buffer.byteLength(text) }, 'event too large for NOTIFY; not sent');
      return;
    }
    if (this.pendingPublishes >= MAX_PENDING_PUBLISHES) {
      this.log.warn({ topic, pending: this.pendingPublishes }, 'event not published: the database is not answering');
      return;
    }
    this.pendingPublishes++;
    // One at a time: the pool's two connections could otherwise commit two NOTIFYs out of order.
    // pool.query drops a connection whose query failed or timed out, so the next one starts afresh.
    this.publishing = this.publishing
      .then(() => this.pool.query('select pg_notify($1, $2)', [CHANNEL, text]))
      .catch((err: unknown) => this.log.warn({ err, topic }, 'event not published'))
      .finally(() => this.pendingPublishes--);
  }

  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T> {
    return this.local.subscribe<T>(topic, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.heartbeatTimer);
    const client = this.listener;
    this.listener = null;
    // Bounded: on a hung database a polite end() never finishes, and shutdown must.
    const { connectMs } = this.timeouts;
    if (client) {
      await within(client.end().catch(() => undefined), connectMs);
      destroy(client);
    }
    // Events published just before close still go out (each is bounded by the query timeout).
    await this.publishing;
    await within(this.pool.end().catch(() => undefined), connectMs);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true, connectionTimeoutMillis: this.timeouts.connectMs, query_timeout: this.timeouts.connectMs });
    client.on('notification', (msg) => {
      if (msg.channel !== CHANNEL || !msg.payload) return;
      try {
        const { t, p } = JSON.parse(msg.payload) as Envelope;
        this.local.publish(t, p);
      } catch (err) {
        this.log.warn({ err }, 'unreadable event notification');
      }
    });
    client.on('error', (err) => {
      this.log.warn({ err }, 'event listener connection lost; reconnecting');
      this.reconnect(client);
    });
    client.on('end', () => this.reconnect(client));
    try {
      await client.connect();
      await client.query(`listen ${CHANNEL}`);
    } catch (err) {
      // Timed out or refused: drop the socket now (end() would wait for a server that may not answer).
      destroy(client);
      throw err;
    }
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
    this.watch(client);
    this.status.emit('connected');
  }

  /** The heartbeat: a ping still unanswered at the next tick means the connection went silent. */
  private watch(client: pg.Client): void {
    clearInterval(this.heartbeatTimer);
    let ping: Promise<unknown> | null = null;
    this.heartbeatTimer = setInterval(() => {
      if (this.listener !== client) return clearInterval(this.heartbeatTimer);
      if (ping) {
        this.log.warn({ afterMs: this.timeouts.heartbeatMs }, 'event listener connection silent; reconnecting');
        return this.reconnect(client);
      }
      // LISTEN again is a no-op that needs an answer (and keeps pg_stat_activity saying "listen").
      ping = client.query(`listen ${CHANNEL}`).then(
        () => (ping = null),
        () => undefined, // the connection's 'error' (or the next tick) replaces it
      );
    }, this.timeouts.heartbeatMs);
    this.heartbeatTimer.unref();
  }

  private reconnect(failed: pg.Client, attempt = 0): void {
    if (this.closed || this.listener !== failed) return;
    this.listener = null;
    clearInterval(this.heartbeatTimer);
    failed.removeAllListeners('end');
    destroy(failed);
    const delay = Math.min(30_000, 250 * 2 ** attempt);
    this.reconnectTimer = setTimeout(() => {
      this.connect().catch((err: unknown) => {
        this.log.warn({ err, attempt }, 'event listener reconnect failed');
        this.listener = failed;
        this.reconnect(failed, attempt + 1);
      });
    }, delay);
    this.reconnectTimer.unref();
  }
}

/**
 * Closes a client's socket at once. end() says goodbye to the server first and waits for it, which
 * never finishes on a silent connection; the socket is not in pg's typings, hence the cast.
 */
function destroy(client: pg.Client): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  if (stream) stream.destroy();
  else void client.end().catch(() => undefined);
}

/** Waits for `work`, but no longer than `ms`. */
async function within(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
