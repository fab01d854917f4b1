import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Database } from '../db/database.js';
import type { JobQueue } from '../jobs/jobs.port.js';
import type { Logger } from '../logger.js';
import { type MetricsSettings, serveMetrics } from '../metrics/http.js';
import { exposeQueueDepth } from '../metrics/jobs.js';
import type { StorageBackend } from '../storage/storage.port.js';
import { readiness } from './readiness.js';

export interface WorkerHealth {
  port: number;
  /** From now on /readyz answers 503 "stopping" (the worker takes no new jobs). */
  stopping(): void;
  close(): Promise<void>;
}

export interface WorkerHealthInput {
  host: string;
  /** 0: any free port (the bound one is logged and returned). */
  port: number;
  db: Database;
  storage: StorageBackend;
  /** Its depth per queue and state is counted at each /metrics scrape. */
  queue: JobQueue;
  metrics: MetricsSettings;
  log: Logger;
}

/**
 * A worker serves no API, but an orchestrator (compose, Kubernetes) still needs to ask it whether
 * it is alive and can work: /healthz answers while the event loop runs; /readyz when the database
 * and the storage it processes from both answer, and not once it is shutting down. /metrics
 * (unless METRICS=off) is the process's Prometheus registry: its jobs, the queue, the process.
 */
export async function startWorkerHealth({ host, port, db, storage, queue, metrics, log }: WorkerHealthInput): Promise<WorkerHealth> {
  let stopping = false;
  const unexposeQueue = exposeQueueDepth({ queue });
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: object) => res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, { status: 'method not allowed' });
    if (path === '/healthz') return send(200, { status: 'ok' });
    if (path === '/metrics' && metrics.enabled) {
      serveMetrics({ settings: metrics, req, res }).catch((err: unknown) => {
        log.error({ err }, 'metrics scrape failed');
        send(500, { status: 'error' });
      });
      return;
    }
    if (path !== '/readyz') return send(404, { status: 'not found' });
    if (stopping) return send(503, { status: 'stopping', database: null, storage: null });
    readiness(db, storage).then(
      (r) => send(r.ok ? 200 : 503, { status: r.ok ? 'ready' : 'unavailable', database: r.database, storage: r.storage }),
      (err: unknown) => {
        log.error({ err }, 'readiness probe failed');
        send(503, { status: 'unavailable', database: false, storage: false });
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  log.info({ port: bound, host }, 'worker health endpoints listening');
  return {
    port: bound,
    stopping: () => void (stopping = true),
    close: () =>
      new Promise<void>((resolve) => {
        unexposeQueue();
        server.close(() => resolve());
      }),
  };
}
