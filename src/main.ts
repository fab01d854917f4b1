import 'reflect-metadata';
import { openDatabase } from './db/database.js';
import { exitOnSignals, loadConfigOrExit } from './lifecycle.js';
import { createLogger } from './logger.js';
import { createHttpApp, listen } from './server.js';
import { openServices } from './services.js';
import { startTracing } from './tracing/tracing.js';
import { startSweeper } from './worker/sweep-schedule.js';
import { type RunningWorker, startWorker } from './worker/worker.js';

/**
 * `npm start`: the API. In the embedded mode (no DATABASE_URL) the worker runs in this process
 * too, so one command gives a complete install; in served mode workers are `npm run worker`.
 */
async function main(): Promise<void> {
  const config = await loadConfigOrExit();
  const log = createLogger(config.logLevel);
  // Before anything that makes spans or enqueues jobs; nothing at all without an endpoint.
  const tracing = startTracing({ settings: config.tracing, defaultServiceName: 'memory-chest-api' });
  log.info({ database: config.database.mode, dataDir: config.dataDir, tracing: tracing !== null }, 'starting');
  const db = await openDatabase(config, log);
  const embedded = config.database.mode === 'embedded';
  let services;
  let app;
  let worker: RunningWorker | undefined;
  try {
    services = await openServices(config, db, log, { supervise: embedded });
    app = await createHttpApp(config, db, log, services);
    await listen(app, config.http.host, config.http.port);
    if (embedded) worker = await startWorker({ orm: db.orm, storage: services.storage, events: services.events, log: log.child({ part: 'worker' }) }, services.queue, config);
  } catch (err) {
    // e.g. the port is taken: close what opened, the database last, before giving up.
    await app?.close().catch(() => undefined);
    await services?.close().catch(() => undefined);
    await worker?.close().catch(() => undefined);
    await db.close();
    throw err;
  }
  const running = app;
  const opened = services;
  log.info({ url: `${running.url()}/graphql`, worker: embedded ? 'in this process' : 'npm run worker' }, 'ready: GraphQL and the explorer are at /graphql');

  // Served mode sweeps from the worker processes.
  const sweeper = embedded ? startSweeper(config, db, opened.storage, log) : undefined;

  exitOnSignals(log, async () => {
    clearInterval(sweeper);
    await running.close();
    // Jobs in hand get the shutdown timeout to finish; the rest are retried on the next start.
    await opened.close();
    await worker?.close();
    await db.close();
    await tracing?.shutdown();
  });
}

main().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
