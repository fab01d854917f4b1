import type { Config } from './config.js';
import type { Database } from './db/database.js';
import type { EventBus } from './events/events.port.js';
import { createEventBus } from './events/events.registry.js';
import type { JobQueue } from './jobs/jobs.port.js';
import { createJobQueue } from './jobs/jobs.registry.js';
import type { Logger } from './logger.js';
import type { StorageBackend } from './storage/storage.port.js';
import { createStorage } from './storage/storage.registry.js';

/** The ports a process needs, opened once from the configuration and closed in reverse order. */
export interface Services {
  storage: StorageBackend;
  events: EventBus;
  queue: JobQueue;
  close(): Promise<void>;
}

/**
 * @param supervise whether this process runs jobs (the worker, or npm start in embedded mode):
 *   only those look after the queue (retrying jobs of workers that died).
 */
export async function openServices(config: Config, db: Database, log: Logger, { supervise }: { supervise: boolean }): Promise<Services> {
  const storage = await createStorage(config.storage);
  const events = await createEventBus(db, log, config.database.mode === 'postgres' ? config.database.timeouts : undefined);
  let queue: JobQueue;
  try {
    queue = await createJobQueue(config, db, log, { supervise });
  } catch (err) {
    await events.close();
    throw err;
  }
  return {
    storage,
    events,
    queue,
    async close() {
      await queue.stop({ timeoutMs: config.shutdownTimeoutMs });
      await events.close();
    },
  };
}
