import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeCursor } from '../../src/domain/pagination.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner } from '../support/graphql.js';

/**
 * Every date a caller can give, at and past the edges of what PostgreSQL (no year 0, date and
 * timestamptz), JavaScript (up to 275760) and the ISO scalars (four-digit years) can hold: each
 * is a clear BAD_USER_INPUT, never a database range error (INTERNAL_SERVER_ERROR).
 */
const OUT_OF_RANGE_DAYS = ['0000-01-01', '10000-01-01', '-0001-01-01', '275760-09-14', '+275760-09-13', 'NaN', 'NaN-NaN-NaN', '2020-13-01', '2021-02-29', '0000-12-31'];
/** Real days whose instant falls outside the years 0001–9999 in UTC. */
const OUT_OF_RANGE_TIMES = ['0001-01-01T00:00:00+01:00', '0000-12-31T23:59:59Z', '9999-12-31T23:00:00-14:00', '275760-09-13T00:00:00Z', 'NaNT00:00:00Z'];

describe('dates outside the storable range', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let token: string;
  let chestId: string;
  let assetId: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm);
    const em = db.orm.em.fork();
    const owner = await makeAccount(em);
    token = owner.token;
    const chest = await makeChest(em, { allowContributions: true }, owner.account);
    chestId = chest.id;
    assetId = (await makeAsset(em, chest)).id;
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  const code = async (query: string, variables: Record<string, unknown>) => {
    const res = await gql.run(query, variables, { token });
    expect(res.errors, JSON.stringify(res)).toHaveLength(1);
    return res.errors![0]!.extensions?.code;
  };

  it.each([...OUT_OF_RANGE_DAYS, ...OUT_OF_RANGE_TIMES])('updateMemory dateTaken %s is BAD_USER_INPUT', async (d) => {
    const q = 'mutation($a: ID!, $d: String) { updateMemory(assetId: $a, input: { dateTaken: $d }) { id } }';
    expect(await code(q, { a: assetId, d })).toBe('BAD_USER_INPUT');
  });

  it.each(OUT_OF_RANGE_DAYS)('createChest and updateChest birthDate/passingDate %s are BAD_USER_INPUT', async (d) => {
    expect(await code('mutation($d: LocalDate) { createChest(input: { personName: "Rose", birthDate: $d }) { id } }', { d })).toBe('BAD_USER_INPUT');
    expect(await code('mutation($d: LocalDate) { createChest(input: { personName: "Rose", passingDate: $d }) { id } }', { d })).toBe('BAD_USER_INPUT');
    expect(await code('mutation($c: ID!, $d: LocalDate) { updateChest(id: $c, input: { birthDate: $d }) { id } }', { c: chestId, d })).toBe('BAD_USER_INPUT');
  });

  it.each([...OUT_OF_RANGE_DAYS.map((d) => `${d}T00:00:00Z`), ...OUT_OF_RANGE_TIMES])('link expiresAt %s is BAD_USER_INPUT', async (e) => {
    expect(await code('mutation($c: ID!, $e: DateTimeISO) { createShareLink(chestId: $c, expiresAt: $e) { token } }', { c: chestId, e })).toBe('BAD_USER_INPUT');
    expect(await code('mutation($c: ID!, $e: DateTimeISO) { createContributionLink(chestId: $c, expiresAt: $e) { token } }', { c: chestId, e })).toBe('BAD_USER_INPUT');
  });

  it.each(['0000-01-01T00:00:00Z', '0000-06-01T00:00:00+01:00', '9999-12-31T23:00:00-14:00'])('a forged cursor dated %s is BAD_USER_INPUT', async (d) => {
    const after = encodeCursor({ d, c: d, i: '00000000-0000-4000-8000-000000000000' });
    expect(await code('query($c: ID!, $after: String) { chest(id: $c) { assets(after: $after) { edges { cursor } } } }', { c: chestId, after })).toBe('BAD_USER_INPUT');
    expect(await code('query($after: String) { chests(after: $after) { edges { cursor } } }', { after })).toBe('BAD_USER_INPUT');
  });

  it('the first and last storable days are kept', async () => {
    const set = await gql.run('mutation($a: ID!, $d: String) { updateMemory(assetId: $a, input: { dateTaken: $d }) { dateTaken } }', { a: assetId, d: '0001-01-01' }, { token });
    expect(set.data?.updateMemory.dateTaken).toBe('0001-01-01T00:00:00.000Z');
    const born = await gql.run('mutation { createChest(input: { personName: "Rose", birthDate: "0001-01-01" }) { birthDate } }', {}, { token });
    expect(born.data?.createChest.birthDate).toBe('0001-01-01');
    const link = await gql.run('mutation($c: ID!) { createShareLink(chestId: $c, expiresAt: "9999-12-31T23:59:59Z") { expiresAt } }', { c: chestId }, { token });
    expect(link.data?.createShareLink.expiresAt).toBe('9999-12-31T23:59:59.000Z');
  });
});
