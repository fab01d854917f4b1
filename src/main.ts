import 'reflect-metadata';
import { type Config, ConfigError, loadConfig } from './config.js';
import { type Database, openDatabase } from './db/database.js';
import { sweep } from './domain/upload/sweeper.js';
import type { StorageBackend } from './storage/storage.port.js';
import { createLogger, type Logger } from './logger.js';
import { createHttpApp, listen } from './server.js';

/** `npm start`: the API (and, in later work, the in-process worker) in one process. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  const log = createLogger(config.logLevel);
  log.info({ database: config.database.mode, dataDir: config.dataDir }, 'starting');
  const db = await openDatabase(config, log);
  let app;
  try {
    app = await createHttpApp(config, db, log);
    await listen(app, config.http.host, config.http.port);
  } catch (err) {
    // e.g. the port is taken: close the database cleanly before giving up.
    await app?.close().catch(() => undefined);
    await db.close();
    throw err;
  }
  const running = app;
  log.info({ url: `${running.url()}/graphql` }, 'ready: GraphQL and the explorer are at /graphql');

  const sweeper = startSweeper(config, db, running.storage, log);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    clearInterval(sweeper);
    try {
      await running.close();
      await db.close();
      log.info('stopped');
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'unclean shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/**
 * Removes abandoned uploads' parts and orphaned originals, and reports rows whose file is
 * missing. A day's grace covers any upload still being finished. Safe from every process.
 */
function startSweeper(config: Config, db: Database, storage: StorageBackend, log: Logger): NodeJS.Timeout | undefined {
  if (!config.sweepIntervalMs) return undefined;
  const timer = setInterval(() => {
    sweep(db.orm.em.fork(), storage, { graceMs: 86_400_000 }).then(
      (report) => {
        if (report.missingObjects.length) log.error({ missing: report.missingObjects }, 'memories whose files are missing from storage');
        log.info({ staging: report.stagingRemoved.length, orphans: report.orphansRemoved.length, expired: report.expiredUploads.length }, 'storage sweep');
      },
      (err: unknown) => log.error({ err }, 'storage sweep failed'),
    );
  }, config.sweepIntervalMs);
  timer.unref();
  return timer;
}

main().catch((err: unknown) => {
  console.error('failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
