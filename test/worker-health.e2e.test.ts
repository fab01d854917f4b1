import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from './support/client.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { type ProductProcess, startWorkerProcess } from './support/processes.js';
import { startStorageEnv, type StorageEnv } from './support/storage.js';

/**
 * A worker process serves no API, yet compose and orchestrators must see whether it is alive and
 * able to work: with WORKER_HEALTH_PORT it answers /healthz and /readyz (database and storage).
 */
describe('worker health endpoints', () => {
  let db: TestDatabase;
  let s3: StorageEnv;
  let worker: ProductProcess;
  let base: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    s3 = await startStorageEnv('s3');
    worker = await startWorkerProcess({ ...s3.env, DATABASE_URL: db.url, SWEEP_INTERVAL_MINUTES: '0', WORKER_HEALTH_PORT: '0' });
    const line = await worker.waitForLog((l) => l.msg === 'worker health endpoints listening');
    base = `http://127.0.0.1:${line.port as number}`;
  }, 120_000);

  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await s3?.stop().catch(() => undefined);
    await db?.close();
  });

  it('is alive, and ready while the database and the storage answer', async () => {
    const live = await fetch(`${base}/healthz`);
    expect([live.status, await live.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${base}/readyz`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', database: true, storage: true }]);
    expect((await fetch(`${base}/graphql`)).status).toBe(404);
    expect((await fetch(`${base}/readyz`, { method: 'POST' })).status).toBe(405);
  });

  it('serves Prometheus metrics of the worker process: the queue counted at scrape time, the process', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/^memory_chest_job_queue_up 1$/m);
    expect(text).toMatch(/^memory_chest_job_queue_jobs\{queue="asset\.process",state="created"\} 0$/m);
    expect(text).toMatch(/^process_resident_memory_bytes \d/m);
  });

  it('is not ready once the storage stops answering, and closes the port when stopped', { timeout: 60_000 }, async () => {
    await s3.stop();
    const down = await eventually(async () => {
      const r = await fetch(`${base}/readyz`);
      return r.status === 503 ? r.json() : undefined;
    }, 20_000, 250);
    expect(down).toEqual({ status: 'unavailable', database: true, storage: false });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
