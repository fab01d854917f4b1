import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Person } from '../../src/db/entities/index.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner } from '../support/graphql.js';
import { makeFace, makePerson } from '../support/people.js';

/**
 * The test rig's lazily opened queue on PGlite: a mutation that enqueues inside its transaction
 * before any queue started answers an error naming the remedy, instead of hanging (the queue's
 * start-up would wait behind that transaction on the one connection). The product starts its
 * queue first: test/people/people-embedded.e2e.test.ts.
 */
describe('lazy queue of the test rig on PGlite', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  const logged: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('pglite');
    const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
    gql = await createGraphQLRunner(db.orm, { log });
  }, 60_000);
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it('hidePerson without a started queue fails at once with the remedy', async () => {
    const em = db.orm.em.fork();
    const owner = await makeAccount(em);
    const chest = await makeChest(em, {}, owner.account);
    const photo = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE });
    const person = await makePerson(em, chest, { name: 'Ada' });
    await makeFace(em, photo, person);
    const res = await gql.run(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: person.id }, { token: owner.token });
    expect(res.errors?.[0]?.extensions?.code).toBe('INTERNAL_SERVER_ERROR');
    expect(logged.join('\n')).toContain('before the queue started');
    // Nothing was changed: the transaction rolled back.
    expect((await db.orm.em.fork().findOneOrFail(Person, person.id)).hidden).toBe(false);
  });
});
