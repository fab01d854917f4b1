import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const log = pino({ level: 'silent' });
const timeouts = { acquireMs: 500, statementMs: 500, listenerHeartbeatMs: 300 };

/** Settles with 'waiting' if `p` has not settled after `ms`. */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => 'answered' as const, () => 'refused' as const), new Promise<'waiting'>((r) => setTimeout(() => r('waiting'), ms))]);

/**
 * The job queue's own pool (served mode) reaches PostgreSQL through a TCP proxy the test controls.
 * Hung (connections accepted, nothing answered): with the database bounds, each queue statement
 * gives up within about a second and a half, the connection that never answered is closed, and
 * once the database answers again the same queue works, no restart. Without them, it waits.
 */
describe('the job queue on a hung database', () => {
  let db: TestDatabase;
  let proxy: TcpProxy;
  const queues: JobQueue[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const target = new URL(db.url);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  });
  afterAll(async () => {
    proxy?.restore();
    await Promise.all(queues.map((q) => q.stop({ timeoutMs: 2_000 }).catch(() => undefined)));
    await proxy?.close();
    await db?.close();
  });

  const viaProxy = () => {
    const url = new URL(db.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    return url.toString();
  };
  const open = async (bounded: boolean) => {
    const queue = await createPgBossQueue({ url: viaProxy(), supervise: false, log, ...(bounded && { timeouts }) });
    queues.push(queue);
    return queue;
  };

  it('gives up within its bounds while hung, and works again once restored', { timeout: 60_000 }, async () => {
    const queue = await open(true);
    await expect(queue.counts('asset.process')).resolves.toMatchObject({ created: expect.any(Number) });
    proxy.hang();
    try {
      // Pooled connections (now silent) and new ones (accepted, never answered) alike.
      for (let i = 0; i < 3; i++) expect(await within(queue.counts('asset.process'), 5_000)).toBe('refused');
    } finally {
      proxy.restore();
    }
    // The connections that never answered were closed: the next statements get fresh ones.
    let after: string = 'refused';
    for (let i = 0; i < 10 && after !== 'answered'; i++) after = await within(queue.counts('asset.process'), 5_000);
    expect(after).toBe('answered');
  });

  it('without the bounds, the same statement is still waiting after 5 s (the control)', { timeout: 60_000 }, async () => {
    const queue = await open(false);
    await queue.counts('asset.process');
    proxy.hang();
    try {
      expect(await within(queue.counts('asset.process'), 5_000)).toBe('waiting');
    } finally {
      proxy.restore();
    }
  });
});
