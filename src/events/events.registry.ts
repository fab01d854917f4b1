import type { DatabaseTimeouts } from '../config.js';
import type { Database } from '../db/database.js';
import type { Logger } from '../logger.js';
import type { EventBus } from './events.port.js';
import { InProcessEventBus } from './in-process.events.js';
import { DEFAULT_EVENT_BUS_TIMEOUTS, PostgresEventBus } from './postgres.events.js';

/** Embedded mode is one process, so events stay in it; served mode crosses processes via Postgres. */
export async function createEventBus(db: Pick<Database, 'mode' | 'url'>, log: Logger, timeouts?: DatabaseTimeouts): Promise<EventBus> {
  if (db.mode === 'embedded') return new InProcessEventBus();
  // The same bounds as the app's own queries: a publish waits as long as a statement may.
  const bus = new PostgresEventBus(
    db.url,
    log,
    timeouts
      ? { connectMs: timeouts.acquireMs, queryMs: timeouts.statementMs > 0 ? timeouts.statementMs + 1000 : 0, heartbeatMs: timeouts.listenerHeartbeatMs }
      : DEFAULT_EVENT_BUS_TIMEOUTS,
  );
  await bus.start();
  return bus;
}
