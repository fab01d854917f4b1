import { Migrator } from '@mikro-orm/migrations';
import type pg from 'pg';
import type { DatabaseTimeouts } from '../config.js';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { migrationsList } from '../../migrations/index.js';
import { boundedWaits, closeOnReadTimeout } from './bounded-waits.js';
import { prepareRepeatedReads } from './prepared-statements.js';
import { entities } from './entities/index.js';

export type { EntityManager } from '@mikro-orm/postgresql';
export { MikroORM };

export interface OrmOptions {
  clientUrl: string;
  poolMax: number;
  /** Served mode's bounds on waiting for the database; absent: none (migrations, PGlite, tests' own ORMs). */
  timeouts?: DatabaseTimeouts;
  /** Repeated reads as named statements, planned once per connection (db/prepared-statements.ts); default true. */
  prepare?: boolean;
  /** Sees every SQL statement before it runs; tests count statements with it. */
  onQuery?: (sql: string) => void;
}

/** The one place ORM options live, shared by the server, the worker, the CLI config and tests. */
export function ormOptions(opts: OrmOptions): Options {
  return defineConfig({
    clientUrl: opts.clientUrl,
    entities,
    extensions: [Migrator],
    pool: { min: 0, max: opts.poolMax },
    driverOptions: driverOptions(opts.timeouts, opts.prepare ?? true),
    // Every request and job forks its own EntityManager; the global one must never hold state.
    allowGlobalContext: false,
    forceUtcTimezone: true,
    ensureDatabase: false,
    // Search's triggers and their functions are hand-written in migrations (search_entries), not declared on entities.
    schemaGenerator: { ignoreTriggers: true, ignoreRoutines: true },
    // Migrations are listed in code (not globbed from disk) so the same list runs from tsx, vitest and dist/.
    migrations: {
      path: 'migrations',
      pathTs: 'migrations',
      emit: 'ts',
      migrationsList,
      // Diff against the real database, not a snapshot file: migration:check must see what is there.
      snapshot: false,
      silent: true,
      transactional: true,
      allOrNothing: true,
    },
    onQuery: opts.onQuery
      ? (sql: string) => {
          opts.onQuery!(sql);
          return sql;
        }
      : undefined,
  });
}

/**
 * Each pooled connection prepares the reads run again and again (db/prepared-statements.ts), unless told not to;
 * in served mode waits are bounded too (db/bounded-waits.ts), and a connection whose read timed
 * out is closed.
 */
function driverOptions(t: DatabaseTimeouts | undefined, prepare: boolean) {
  const onConnect = (client: pg.PoolClient) => {
    if (t) closeOnReadTimeout(client);
    if (prepare) prepareRepeatedReads(client);
  };
  return { ...(t && boundedWaits(t)), onPoolCreated: (pool: pg.Pool) => pool.on('connect', onConnect) };
}

export async function openOrm(opts: OrmOptions): Promise<MikroORM> {
  return MikroORM.init(ormOptions(opts));
}

/** Applies pending migrations; returns the names it ran. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const done = await orm.migrator.up();
  return done.map((m) => m.name);
}
