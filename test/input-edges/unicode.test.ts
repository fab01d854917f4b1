import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner } from '../support/graphql.js';

/** Found by the schema fuzzer: a lone surrogate in a tag reached jsonb as a database error. */
describe('text that is not well-formed Unicode', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let token: string;
  let assetId: string;
  let chestId: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm);
    const em = db.orm.em.fork();
    const owner = await makeAccount(em);
    token = owner.token;
    const chest = await makeChest(em, {}, owner.account);
    chestId = chest.id;
    assetId = (await makeAsset(em, chest)).id;
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it.each(['\udfff\ud800', 'a\ud800', '\udc00b'])('%j in tags, caption and a person name is BAD_USER_INPUT', async (bad) => {
    const memory = await gql.run('mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { id } }', { a: assetId, i: { tags: [bad], caption: 'ok' } }, { token });
    expect(memory.errors?.map((e) => [e.extensions?.code, e.extensions?.field])).toEqual([['BAD_USER_INPUT', 'tags.0']]);
    const caption = await gql.run('mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { id } }', { a: assetId, i: { caption: bad } }, { token });
    expect(caption.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    const chest = await gql.run('mutation($c: ID!, $n: String!) { updateChest(id: $c, input: { personName: $n }) { id } }', { c: chestId, n: bad }, { token });
    expect(chest.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });
});
