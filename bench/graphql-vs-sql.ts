/**
 * A nested chest listing through GraphQL (resolvers, loaders, ORM hydration) against the same
 * reads in raw SQL, in the same process and database. Reports the ratio, not a verdict: watch it
 * across changes.
 */
import { performance } from 'node:perf_hooks';
import { createTestDatabase } from '../test/support/db.js';
import { makeAccount, makeAssets, makeChest } from '../test/support/factories.js';
import { createGraphQLRunner, ok } from '../test/support/graphql.js';

const CHESTS = 20;
const ASSETS = 50;
const RUNS = 200;
const QUERY = `{ chests(first: ${CHESTS}) { edges { node { id personName assets(first: 20) { totalCount edges { node { id filename } } } } } } }`;

async function time(runs: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(20, runs); i++) await fn(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await fn();
  return (performance.now() - t0) / runs;
}

export async function run(): Promise<void> {
  const db = await createTestDatabase('postgres');
  const gql = await createGraphQLRunner(db.orm);
  try {
    const em = db.orm.em.fork();
    const { account, token } = await makeAccount(em);
    for (let i = 0; i < CHESTS; i++) await makeAssets(em, await makeChest(em, { personName: `Chest ${i}` }, account), ASSETS);

    const baseline = await time(RUNS, async () => {
      const e = db.orm.em.fork();
      const chests = await e.execute<{ id: string }[]>(
        `select c.id, c.person_name from chest c join membership m on m.chest_id = c.id
         where m.account_id = ? and c.deleted_at is null order by c.created_at desc, c.id desc limit ?`,
        [account.id, CHESTS + 1],
      );
      const ids = `{${chests.map((c) => c.id).join(',')}}`;
      await e.execute(
        `select * from (select a.id, a.chest_id, a.filename, row_number() over (partition by a.chest_id
           order by a.date_taken desc nulls last, a.created_at desc, a.id desc) rn from asset a
           where a.chest_id = any(?::uuid[]) and a.deleted_at is null) t where rn <= 21`,
        [ids],
      );
      await e.execute(`select chest_id, count(*) from asset where chest_id = any(?::uuid[]) and deleted_at is null group by chest_id`, [ids]);
    });

    const before = db.queries.length;
    const graphql = await time(RUNS, async () => ok(await gql.run(QUERY, {}, { token })));
    const statements = (db.queries.length - before) / (RUNS + Math.min(20, RUNS));

    console.log(`\ngraphql-vs-sql: ${CHESTS} chests x ${ASSETS} assets, first 20 assets each, ${RUNS} runs`);
    console.table({
      'raw SQL (baseline)': { 'ms/op': baseline.toFixed(2), 'ops/s': (1000 / baseline).toFixed(0), ratio: '1.00' },
      'GraphQL nested query': { 'ms/op': graphql.toFixed(2), 'ops/s': (1000 / graphql).toFixed(0), ratio: (graphql / baseline).toFixed(2) },
    });
    console.log(`SQL statements per GraphQL operation: ${statements.toFixed(1)} (baseline: 3)`);
  } finally {
    await gql.stop();
    await db.close();
  }
}
