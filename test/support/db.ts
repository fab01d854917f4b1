import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.js';
import { migrate, type MikroORM, openOrm } from '../../src/db/orm.js';

/** The server tests create their databases on; CI starts nothing else. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  backend: Backend;
  url: string;
  orm: MikroORM;
  /** SQL statements seen since the last reset. */
  queries: string[];
  close(): Promise<void>;
}

/** SECRET_KEY for served-mode tests (served mode refuses to start without one). */
export const TEST_SECRET_KEY = 'test-secret-key-of-at-least-32-characters';

export type Backend = 'postgres' | 'pglite';
export const BACKENDS: Backend[] = ['postgres', 'pglite'];

/** A new, empty, migrated database: a fresh Postgres database, or an in-memory PGlite. */
export async function createTestDatabase(backend: Backend = 'postgres', { migrated = true } = {}): Promise<TestDatabase> {
  const queries: string[] = [];
  if (backend === 'pglite') {
    const embedded = await startEmbeddedPostgres();
    const orm = await openOrm({ clientUrl: embedded.url, poolMax: 1, onQuery: (sql) => queries.push(sql) });
    if (migrated) await migrate(orm);
    queries.length = 0;
    return {
      backend,
      url: embedded.url,
      orm,
      queries,
      async close() {
        await orm.close(true);
        await embedded.close();
      },
    };
  }
  const name = `dmc_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(`create database "${name}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const orm = await openOrm({ clientUrl: url.toString(), poolMax: 4, onQuery: (sql) => queries.push(sql) });
  if (migrated) await migrate(orm);
  queries.length = 0;
  return {
    backend,
    url: url.toString(),
    orm,
    queries,
    async close() {
      await orm.close(true);
      await admin(`drop database if exists "${name}" with (force)`);
    },
  };
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
