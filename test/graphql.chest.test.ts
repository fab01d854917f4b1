import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MikroORM } from '@mikro-orm/postgresql';
import { ormOptions } from '../src/db/orm.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeAssets, makeChest, makeContribution, makeStory } from './support/factories.js';
import type { Account } from '../src/db/entities/index.js';
import { createGraphQLRunner, failure, ok } from './support/graphql.js';
import { ContributionStatus } from '../src/db/enums.js';

const CREATE = `mutation($input: CreateChestInput!) { createChest(input: $input) { id personName birthDate passingDate isPublic myRole } }`;

describe('GraphQL: chests', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let owner: Account;
  let token: string;
  /** Runs as the signed-in owner. */
  const run = (query: string, variables?: Record<string, unknown>) => gql.run(query, variables, { token });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm, { maxPageSize: 50 });
    ({ account: owner, token } = await makeAccount(db.orm.em.fork()));
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it('creates, reads, updates, deletes and restores a chest', async () => {
    const created = ok(await run(CREATE, { input: { personName: 'Mira Okafor', birthDate: '1950-03-01' } })).createChest;
    const id = created.id;
    expect(created).toMatchObject({ personName: 'Mira Okafor', birthDate: '1950-03-01', passingDate: null, isPublic: false, myRole: 'OWNER' });

    const upd = ok(
      await run(`mutation($id: ID!) { updateChest(id: $id, input: { passingDate: "2023-08-09", description: "Teacher" }) { passingDate description } }`, { id }),
    );
    expect(upd.updateChest).toEqual({ passingDate: '2023-08-09', description: 'Teacher' });

    const link = ok(await run(`mutation($id: ID!) { createShareLink(chestId: $id) { token expiresAt } }`, { id })).createShareLink;
    const byToken = ok(await gql.run(`query($t: String!) { chestByShareToken(token: $t) { id myRole } }`, { t: link.token }));
    expect(byToken.chestByShareToken).toEqual({ id, myRole: null });

    ok(await run(`mutation($id: ID!) { deleteChest(id: $id) { deletedAt } }`, { id }));
    expect(failure(await run(`query($id: ID!) { chest(id: $id) { id } }`, { id })).code).toBe('NOT_FOUND');
    const restored = ok(await run(`mutation($id: ID!) { restoreChest(id: $id) { id deletedAt } }`, { id }));
    expect(restored.restoreChest).toEqual({ id, deletedAt: null });
  });

  it.each([
    ['empty name', { personName: '' }, 'personName'],
    ['201-character name', { personName: 'n'.repeat(201) }, 'personName'],
    ['passing before birth', { personName: 'A', birthDate: '2000-01-02', passingDate: '2000-01-01' }, 'passingDate'],
  ])('answers %s with BAD_USER_INPUT and the field', async (_c, input, field) => {
    const err = failure(await run(CREATE, { input }));
    expect(err).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('rejects malformed scalars before any use case runs', async () => {
    const err = failure(await run(CREATE, { input: { personName: 'A', birthDate: '31/12/1950' } }));
    expect(err.code).toBe('BAD_USER_INPUT');
    expect(err.message).toMatch(/birthDate/);
  });

  it('answers unknown ids and malformed cursors with coded errors', async () => {
    expect(failure(await run(`{ chest(id: "4b0c0f6e-1111-4222-8333-944445555666") { id } }`)).code).toBe('NOT_FOUND');
    expect(failure(await run(`{ chest(id: "x") { id } }`)).code).toBe('NOT_FOUND');
    expect(failure(await run(`{ chests(after: "bm90LWEtY3Vyc29y") { edges { cursor } } }`))).toMatchObject({
      code: 'BAD_USER_INPUT',
      field: 'after',
    });
    expect(failure(await run(`{ chests(first: 51) { edges { cursor } } }`))).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
  });

  it('serves nested connections with cursors, filters, counts and summary', async () => {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, { personName: 'Nested' }, owner);
    const assets = await makeAssets(em, chest, 5, (i) => ({ dateTaken: new Date(Date.UTC(1990 + i, 0, 1)) }));
    const hero = assets[0]!;
    chest.heroImage = hero;
    await em.flush();
    await makeStory(em, chest, { title: 'First' });
    await makeContribution(em, chest, { status: ContributionStatus.APPROVED });
    await makeContribution(em, chest);
    const q = `query($id: ID!, $after: String) { chest(id: $id) {
      heroImage { id }
      assets(first: 2, after: $after, types: [IMAGE]) { totalCount pageInfo { hasNextPage endCursor } edges { node { id dateTaken } } }
      stories { edges { node { title status version } } }
      contributions(status: PENDING) { edges { node { status } } }
      summary { totalAssets images processed recentAssets { id } }
    } }`;
    const first = ok(await run(q, { id: chest.id })).chest;
    expect(first.heroImage.id).toBe(hero.id);
    expect(first.assets.totalCount).toBe(5);
    expect(first.assets.edges.map((e: any) => e.node.id)).toEqual([assets[4]!.id, assets[3]!.id]);
    expect(first.stories.edges).toEqual([{ node: { title: 'First', status: 'GENERATING', version: 1 } }]);
    expect(first.contributions.edges).toEqual([{ node: { status: 'PENDING' } }]);
    expect(first.summary).toMatchObject({ totalAssets: 5, images: 5, processed: 5 });
    const second = ok(await run(q, { id: chest.id, after: first.assets.pageInfo.endCursor })).chest;
    expect(second.assets.edges.map((e: any) => e.node.id)).toEqual([assets[2]!.id, assets[1]!.id]);
  });

  it('never exposes storage keys or share token hashes in the schema', async () => {
    const res = ok(await run(`{ __type(name: "Asset") { fields { name } } c: __type(name: "Chest") { fields { name } } }`));
    const names = [...res.__type.fields, ...res.c.fields].map((f: any) => f.name);
    expect(names).not.toContain('storageKey');
    expect(names).not.toContain('shareTokenHash');
    expect(names).not.toContain('contributionTokenHash');
  });

  it('returns members the location of a memory through the privacy-aware resolver', async () => {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, {}, owner);
    await makeAsset(em, chest, { location: { latitude: 51.5, longitude: -0.12, altitude: null, placeName: 'London' } });
    const res = ok(await run(`query($id: ID!) { chest(id: $id) { assets { edges { node { location { latitude placeName } } } } } }`, { id: chest.id }));
    expect(res.chest.assets.edges[0].node.location).toEqual({ latitude: 51.5, placeName: 'London' });
  });

  it('hides internal failures: no SQL, no stack, just a code', async () => {
    // An ORM pointed at a database that is gone fails on its first query, with SQL in the error.
    const gone = new URL(db.url);
    gone.pathname = '/dmc_database_that_does_not_exist';
    const broken = await MikroORM.init(ormOptions({ clientUrl: gone.toString(), poolMax: 1 }));
    const runner = await createGraphQLRunner(broken);
    try {
      const res = await runner.run(`{ chest(id: "4b0c0f6e-1111-4222-8333-944445555666") { id } }`);
      const err = failure(res);
      expect(err).toMatchObject({ code: 'INTERNAL_SERVER_ERROR', message: 'Internal server error' });
      const body = JSON.stringify(res);
      expect(body).not.toMatch(/select|stack|does not exist|dmc_database|at .*\.ts/i);
    } finally {
      await runner.stop();
      await broken.close(true);
    }
  });
});
