import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContributionStatus } from '../src/db/enums.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAssets, makeChest, makeContribution, makeStory } from './support/factories.js';
import type { Account } from '../src/db/entities/index.js';
import { createGraphQLRunner, ok } from './support/graphql.js';
import { NESTED_CHEST } from './support/nested-query.js';
import { makeFace, makePerson } from './support/people.js';


describe('SQL statements per query', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let owner: Account;
  let token: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm);
    ({ account: owner, token } = await makeAccount(db.orm.em.fork()));
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  async function statements(query: string, variables?: Record<string, unknown>): Promise<number> {
    db.queries.length = 0;
    ok(await gql.run(query, variables, { token }));
    return db.queries.length;
  }

  /** A chest with n assets (the first its hero image), two stories and two contributions. */
  async function chestWith(n: number) {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, {}, owner);
    const assets = await makeAssets(em, chest, n, (i) => ({
      location: { latitude: i, longitude: i },
      tags: [{ name: 'garden', source: 'USER' as never, confidence: 1 }],
    }));
    chest.heroImage = assets[0]!;
    await makeStory(em, chest);
    await makeStory(em, chest);
    await makeContribution(em, chest, { status: ContributionStatus.APPROVED });
    await makeContribution(em, chest);
    await em.flush();
    return chest;
  }

  it('does not grow with the number of assets in a chest (1 vs 200)', async () => {
    const small = await chestWith(1);
    const large = await chestWith(200);
    const q = `query($id: ID!) { chest(id: $id) { ${NESTED_CHEST} } }`;
    const forSmall = await statements(q, { id: small.id });
    const forLarge = await statements(q, { id: large.id });
    expect(forLarge).toBe(forSmall);
    // session + chest + role + members + hero + 2 asset pages + 2 counts + stories + contributions + 2 summary statements
    expect(forSmall).toBeLessThanOrEqual(14);
  });

  it("people and faces: does not grow with the number of people, their faces or their memories (1 vs 30)", async () => {
    /** A chest where each of n people appears in two of n photos, next to the person before them. */
    async function peopleChest(n: number) {
      const em = db.orm.em.fork();
      const chest = await makeChest(em, {}, owner);
      const assets = await makeAssets(em, chest, n);
      for (let i = 0; i < n; i++) {
        const person = await makePerson(em, chest, { name: i % 2 ? null : `Person ${i}` });
        await makeFace(em, assets[i]!, person, { box: { x: 0.1, y: 0.1, width: 0.2, height: 0.2 } });
        await makeFace(em, assets[(i + 1) % n]!, person, { box: { x: 0.5, y: 0.1, width: 0.2, height: 0.2 } });
      }
      return chest;
    }
    const q = `query($id: ID!) { chest(id: $id) {
      people(first: 50) { edges { node { id name hidden faceCount cover assets(first: 5) { edges { node { id faces { box { x } person { name } } } } } } } }
      assets(first: 50) { edges { node { id faces { id person { id name faceCount cover } } } } } } }`;
    const one = await statements(q, { id: (await peopleChest(1)).id });
    const thirty = await statements(q, { id: (await peopleChest(30)).id });
    // session + chest + role + people + counts + covers + their asset pages + asset page + faces +
    // people by id: 10. The two branches (people, assets) reach faces, people by id, counts and
    // covers at times set by their own statements: when one branch's answer comes a tick later the
    // loader batches twice, so a busy machine can see up to 4 more. The bound is the query's shape,
    // never the number of people, faces or memories.
    const SHAPE = 10 + 4;
    expect(one).toBeGreaterThanOrEqual(10);
    expect(one).toBeLessThanOrEqual(SHAPE);
    expect(thirty).toBeLessThanOrEqual(SHAPE);
  });

  it('does not grow with the number of chests in a list (1 vs 30)', async () => {
    const q = `{ chests(first: 50) { edges { node { ${NESTED_CHEST} } } } }`;
    const before = await statements(q);
    for (let i = 0; i < 28; i++) await chestWith(3);
    const after = await statements(q);
    expect(after).toBe(before);
  });
});
