import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dollarPlaceholders, executeParameterised } from '../src/db/parameterised.js';
import { openOrm } from '../src/db/orm.js';
import { RUNS_BEFORE_PREPARING } from '../src/db/prepared-statements.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';

/** The database's own list of this connection's named statements (the test ORMs hold one connection on PGlite; Postgres's run alone here). */
async function prepared(db: TestDatabase, like: string): Promise<string[]> {
  const rows = await db.orm.em.getConnection().execute<{ statement: string }[]>('select statement from pg_prepared_statements');
  return rows.map((r) => r.statement).filter((s) => s.includes(like));
}

describe('executeParameterised', () => {
  it('sends ? as $n outside quoted text, and refuses a count that does not match', () => {
    expect(dollarPlaceholders(`select '?' as "a?", x from t where a = ? and b = ?`, 2)).toBe(`select '?' as "a?", x from t where a = $1 and b = $2`);
    expect(() => dollarPlaceholders('select ? from t', 2)).toThrow(/1 placeholders for 2/);
  });
});

describe.each(BACKENDS)('repeated reads are prepared once per connection (%s)', (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(backend);
    await db.orm.em.getConnection().execute('create table prep_probe (id int primary key, label text)');
    await db.orm.em.getConnection().execute(`insert into prep_probe values (1, 'one'), (2, 'two')`);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('a select with parameters becomes a named statement once the process ran it again, and answers as before', async () => {
    const em = db.orm.em.fork();
    const run = (sql: string, params: unknown[] = []) => executeParameterised<Record<string, unknown>>(em, sql, params);
    const sql = 'select label from prep_probe where id = ? /* probe-a */';
    const answers: unknown[] = [];
    for (let i = 0; i < RUNS_BEFORE_PREPARING + 3; i++) answers.push(await run(sql, [1 + (i % 2)]));
    expect(answers.map((rows) => (rows as { label: string }[])[0]!.label)).toEqual(['one', 'two', 'one', 'two', 'one']);
    // Postgres holds it once, however often it ran (per connection: at most the pool's size).
    const named = await prepared(db, 'probe-a');
    expect(named.length).toBeGreaterThanOrEqual(1);
    expect(named.length).toBeLessThanOrEqual(4);
    // Planned once, generically: never again for a run's values.
    const plans = await db.orm.em.getConnection().execute<{ generic_plans: string; custom_plans: string }[]>(
      `select generic_plans, custom_plans from pg_prepared_statements where statement like '%probe-a%'`,
    );
    expect(plans.map((p) => Number(p.custom_plans))).toEqual(plans.map(() => 0));
    expect(plans.reduce((n, p) => n + Number(p.generic_plans), 0)).toBeGreaterThanOrEqual(3);
  });

  it('run once, or without parameters, or not a select: left unnamed', async () => {
    const em = db.orm.em.fork();
    const run = (sql: string, params: unknown[] = []) => executeParameterised<Record<string, unknown>>(em, sql, params);
    await run(`select label from prep_probe where id = ? /* probe-once-${backend} */`, [1]);
    for (let i = 0; i < 4; i++) await run('select label from prep_probe /* probe-no-params */');
    for (let i = 0; i < 4; i++) await run('update prep_probe set label = label where id = ? /* probe-update */', [1]);
    expect(await prepared(db, 'probe-once')).toEqual([]);
    expect(await prepared(db, 'probe-no-params')).toEqual([]);
    expect(await prepared(db, 'probe-update')).toEqual([]);
  });

  it('a table changed under a prepared plan (a migration while running): the read still answers, unnamed', async () => {
    const em = db.orm.em.fork();
    const run = (sql: string, params: unknown[] = []) => executeParameterised<Record<string, unknown>>(em, sql, params);
    const sql = 'select * from prep_probe where id = ? /* probe-stale */';
    for (let i = 0; i < RUNS_BEFORE_PREPARING + 1; i++) await run(sql, [1]);
    expect((await prepared(db, 'probe-stale')).length).toBeGreaterThanOrEqual(1);
    await em.getConnection().execute('alter table prep_probe add column note text');
    const rows = await run(sql, [1]);
    expect(rows).toEqual([{ id: 1, label: 'one', note: null }]);
  });
});

describe('DB_PREPARED_STATEMENTS=false (openOrm prepare: false)', () => {
  it('nothing is named, and the plan mode stays the server\'s', async () => {
    const db = await createTestDatabase('postgres');
    const orm = await openOrm({ clientUrl: db.url, poolMax: 1, prepare: false });
    try {
      const em = orm.em.fork();
      for (let i = 0; i < RUNS_BEFORE_PREPARING + 3; i++) await executeParameterised(em, 'select 1 as one where ?::int = 1 /* probe-unprepared */', [1]);
      const [row] = await em.getConnection().execute<{ names: string; mode: string }[]>(
        `select count(*) as names, current_setting('plan_cache_mode') as mode from pg_prepared_statements where statement like '%probe-unprepared%'`,
      );
      expect({ names: Number(row!.names), mode: row!.mode }).toEqual({ names: 0, mode: 'auto' });
    } finally {
      await orm.close(true);
      await db.close();
    }
  });
});
