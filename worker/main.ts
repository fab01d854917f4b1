import 'reflect-metadata';
import { openDatabase } from '../src/db/database.js';
import { startWorkerHealth, type WorkerHealth } from '../src/health/worker-health.js';
import { exitOnSignals, loadConfigOrExit } from '../src/lifecycle.js';
import { createLogger } from '../src/logger.js';
import { openServices } from '../src/services.js';
import { startTracing } from '../src/tracing/tracing.js';
import { startSweeper } from '../src/worker/sweep-schedule.js';
import { type RunningWorker, startWorker } from '../src/worker/worker.js';

/**
 * `npm run worker`: processes uploads (thumbnails, metadata, text) from the PostgreSQL queue.
 * Served mode only: run as many as you like beside the API processes. SIGTERM lets jobs in hand
 * finish for up to SHUTDOWN_TIMEOUT_SECONDS; what is left is retried by another worker.
 */
async function main(): Promise<void> {
  const config = await loadConfigOrExit();
  if (config.database.mode === 'embedded') {
    console.error('The worker needs DATABASE_URL (served mode). Without it, `npm start` runs the worker inside the API process.');
    process.exit(1);
  }
  const log = createLogger(config.logLevel).child({ part: 'worker' });
  // Before the queue opens: its jobs' spans continue their requests' traces (tracing/jobs.ts).
  const tracing = startTracing({ settings: config.tracing, defaultServiceName: 'memory-chest-worker' });
  const db = await openDatabase(config, log);
  let services;
  let worker: RunningWorker | undefined;
  let health: WorkerHealth | undefined;
  try {
    services = await openServices(config, db, log, { supervise: true });
    worker = await startWorker({ orm: db.orm, storage: services.storage, events: services.events, log }, services.queue, config);
    if (config.jobs.healthPort !== null) health = await startWorkerHealth({ host: config.http.host, port: config.jobs.healthPort, db, storage: services.storage, queue: services.queue, metrics: config.metrics, log });
  } catch (err) {
    await services?.close().catch(() => undefined);
    await worker?.close().catch(() => undefined);
    await db.close();
    throw err;
  }
  const opened = services;
  const running = worker;
  const sweeper = startSweeper(config, db, opened.storage, log);
  log.info({ concurrency: config.jobs.concurrency, ai: config.ai.providers }, 'worker ready');

  exitOnSignals(
    log,
    async () => {
      clearInterval(sweeper);
      health?.stopping();
      await opened.close();
      await running.close();
      await health?.close();
      await db.close();
      await tracing?.shutdown();
    },
    { stopping: 'worker shutting down', stopped: 'worker stopped' },
  );
}

main().catch((err: unknown) => {
  console.error('worker failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
