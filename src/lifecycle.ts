import { type Config, ConfigError, loadConfig } from './config.js';
import type { Logger } from './logger.js';
import { resolveSecretKey } from './secret-key.js';

/** The configuration with its secret key, or exit 1 with a message naming each bad variable. */
export async function loadConfigOrExit(): Promise<Config> {
  try {
    return await resolveSecretKey(loadConfig());
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
}

/**
 * On SIGTERM or SIGINT, runs the shutdown steps once, in order, then exits 0 (or 1 if a step
 * failed). Each entry point lists its own steps: stop accepting work, let what is in hand finish,
 * close the database last.
 */
export function exitOnSignals(log: Logger, steps: () => Promise<void>, names = { stopping: 'shutting down', stopped: 'stopped' }): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, names.stopping);
    try {
      await steps();
      log.info(names.stopped);
      process.exit(0);
    } catch (err) {
      log.error({ err }, 'unclean shutdown');
      process.exit(1);
    }
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}
