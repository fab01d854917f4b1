import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { EventBus } from './events.port.js';
import { InProcessEventBus } from './in-process.events.js';
import { PostgresEventBus } from './postgres.events.js';

/** Embedded mode is one process, so events stay in it; served mode crosses processes via Postgres. */
export async function createEventBus(db: Pick<Database, 'mode' | 'url'>, log: Logger): Promise<EventBus> {
  if (db.mode === 'embedded') return new InProcessEventBus();
  const bus = new PostgresEventBus(db.url, log);
  await bus.start();
  return bus;
}
