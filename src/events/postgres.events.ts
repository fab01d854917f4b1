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

/**
 * Events across processes through PostgreSQL LISTEN/NOTIFY (served mode): a worker's progress
 * reaches subscribers on every API replica. Each process holds one dedicated LISTEN connection and
 * fans notifications out locally; publishing is one `pg_notify` on a small pool. A publisher also
 * hears its own events through Postgres, so every subscriber sees one ordering.
 *
 * Delivery is at most once: notifications sent while a listener reconnects are lost. Durable
 * chest events are also stored with a per-chest sequence, and clients catch up with chestEvents.
 */
export class PostgresEventBus implements EventBus {
  private readonly local = new InProcessEventBus();
  private readonly pool: pg.Pool;
  private listener: pg.Client | null = null;
  private closed = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  /** The last NOTIFY sent; each waits for the one before, so they commit in publish order. */
  private publishing: Promise<unknown> = Promise.resolve();
  /** Fires 'connected' after every (re)LISTEN, so tests and callers can wait for it. */
  readonly status = new EventEmitter();

  constructor(
    private readonly url: string,
    private readonly log: Logger,
  ) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
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
    // One at a time: the pool's two connections could otherwise commit two NOTIFYs out of order.
    this.publishing = this.publishing
      .then(() => this.pool.query('select pg_notify($1, $2)', [CHANNEL, text]))
      .catch((err: unknown) => this.log.warn({ err, topic }, 'event not published'));
  }

  subscribe<T>(topic: string, signal?: AbortSignal): AsyncIterableIterator<T> {
    return this.local.subscribe<T>(topic, signal);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.listener;
    this.listener = null;
    await client?.end().catch(() => undefined);
    // Events published just before close still go out.
    await this.publishing;
    await this.pool.end();
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, keepAlive: true });
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
    await client.connect();
    await client.query(`listen ${CHANNEL}`);
    if (this.closed) {
      await client.end();
      return;
    }
    this.listener = client;
    this.status.emit('connected');
  }

  private reconnect(failed: pg.Client, attempt = 0): void {
    if (this.closed || this.listener !== failed) return;
    this.listener = null;
    failed.removeAllListeners('end');
    void failed.end().catch(() => undefined);
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
