import { Migrator } from '@mikro-orm/migrations';
import type pg from 'pg';
import type { DatabaseTimeouts } from '../config.js';
import { defineConfig, MikroORM, type Options } from '@mikro-orm/postgresql';
import { migrationsList } from '../../migrations/index.js';
import { entities } from './entities/index.js';

export type { EntityManager } from '@mikro-orm/postgresql';
export { MikroORM };

export interface OrmOptions {
  clientUrl: string;
  poolMax: number;
  /** Served mode's bounds on waiting for the database; absent: none (migrations, PGlite, tests' own ORMs). */
  timeouts?: DatabaseTimeouts;
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
    ...(opts.timeouts && { driverOptions: timeoutOptions(opts.timeouts) }),
    // Every request and job forks its own EntityManager; the global one must never hold state.
    allowGlobalContext: false,
    forceUtcTimezone: true,
    ensureDatabase: false,
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
 * `pg` pool options that bound every wait, so a database that is down or hung answers an error
 * (503 upstream) instead of holding requests until clients give up:
 * - connectionTimeoutMillis: waiting for a pooled connection, or for a new one to connect;
 * - statement_timeout / idle_in_transaction_session_timeout: the server cancels a statement or
 *   ends a transaction left open;
 * - query_timeout: the client stops waiting 1 s after the server should have cancelled — the case
 *   where the server (or the network to it) does not answer at all. Such a connection is closed,
 *   because its late answer would otherwise be read as the next query's.
 */
function timeoutOptions(t: DatabaseTimeouts) {
  return {
    connectionTimeoutMillis: t.acquireMs,
    ...(t.statementMs > 0 && {
      statement_timeout: t.statementMs,
      idle_in_transaction_session_timeout: t.statementMs,
      query_timeout: t.statementMs + 1000,
    }),
    onPoolCreated: (pool: pg.Pool) => pool.on('connect', closeOnReadTimeout),
  };
}

/** Ends a connection whose query the client stopped waiting for (pg keeps it, still busy, otherwise). */
function closeOnReadTimeout(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const result = query(...args);
    if (result instanceof Promise) {
      // Ending sets the client's _ending flag at once, so the pool drops it when it comes back.
      result.catch((err: unknown) => {
        if (err instanceof Error && err.message === 'Query read timeout') (client as unknown as pg.Client).end().catch(() => undefined);
      });
    }
    return result;
  };
}

export async function openOrm(opts: OrmOptions): Promise<MikroORM> {
  return MikroORM.init(ormOptions(opts));
}

/** Applies pending migrations; returns the names it ran. */
export async function migrate(orm: MikroORM): Promise<string[]> {
  const done = await orm.migrator.up();
  return done.map((m) => m.name);
}
