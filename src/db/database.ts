import pg from 'pg';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { migrate, type MikroORM, openOrm } from './orm.js';

export interface Database {
  orm: MikroORM;
  /** 'embedded': PGlite in this process, one connection for everything. */
  mode: 'embedded' | 'postgres';
  /** The connection URL (embedded: PGlite's loopback socket). */
  url: string;
  /** Whether the database answers a query (no time limit: readiness sets one). */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Any 64-bit number works; this one says "memory chest migrations". */
const MIGRATION_LOCK = 0x6d656d6f7279n;

/**
 * Opens the configured database and brings its schema up to date. Served mode takes a Postgres
 * advisory lock first, so replicas starting together migrate once; embedded mode has one process.
 */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  const embedded = config.database.mode === 'embedded' ? await startEmbeddedPostgres(config.database.dataDir) : undefined;
  const clientUrl = config.database.mode === 'postgres' ? config.database.url : embedded!.url;
  // PGlite is one session: a second pooled connection would interleave transactions.
  const poolMax = config.database.mode === 'postgres' ? config.database.poolMax : 1;
  let orm: MikroORM | undefined;
  try {
    if (embedded) {
      orm = await openOrm({ clientUrl, poolMax });
      const ran = await migrate(orm);
      if (ran.length) log.info({ migrations: ran }, 'applied migrations');
    } else {
      // Migrations may take longer than any statement a request runs: they get an ORM of their
      // own, without the statement timeout, closed before the one that serves opens.
      const ran = await withAdvisoryLock(clientUrl, () => migrateWithoutTimeouts(clientUrl));
      if (ran.length) log.info({ migrations: ran }, 'applied migrations');
      const served = config.database.mode === 'postgres' ? config.database : undefined;
      orm = await openOrm({ clientUrl, poolMax, timeouts: served?.timeouts, prepare: served?.preparedStatements });
    }
  } catch (err) {
    await orm?.close(true);
    await embedded?.close();
    throw err;
  }
  const opened = orm;
  return {
    orm: opened,
    mode: config.database.mode,
    url: clientUrl,
    ping() {
      return opened.em
        .fork()
        .execute('select 1')
        .then(
          () => true,
          () => false,
        );
    },
    async close() {
      await opened.close(true);
      await embedded?.close();
    },
  };
}

async function migrateWithoutTimeouts(clientUrl: string): Promise<string[]> {
  const orm = await openOrm({ clientUrl, poolMax: 1 });
  try {
    return await migrate(orm);
  } finally {
    await orm.close(true);
  }
}

async function withAdvisoryLock<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    return await fn();
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]).catch(() => undefined);
    await client.end();
  }
}
