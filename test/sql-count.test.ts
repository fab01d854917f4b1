import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContributionStatus, StoryStatus } from '../src/db/enums.js';
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
    // The batch loaders' statements: what every query takes that the compiled chest read leaves to
    // graphql-js (test/graphql/compiled-read.test.ts counts that one's).
    gql = await createGraphQLRunner(db.orm, { compiled: false });
    ({ account: owner, token } = await makeAccount(db.orm.em.fork()));
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  /** Statements one query runs (as the owner unless `as` says otherwise; null: anonymous). */
  async function statements(query: string, variables?: Record<string, unknown>, as: string | null = token): Promise<number> {
    db.queries.length = 0;
    const data = ok(await gql.run(query, variables, { token: as }));
    expect(data).toBeTruthy();
    return db.queries.length;
  }

  /**
   * A chest with n assets (the first its hero image; each with tags and two thumbnails), two
   * stories (one published, one draft) and two contributions.
   */
  async function chestWith(n: number, { by = owner, isPublic = false }: { by?: Account; isPublic?: boolean } = {}) {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, { isPublic }, by);
    const assets = await makeAssets(em, chest, n, (i) => ({
      location: { latitude: i, longitude: i },
      dateTaken: i % 3 ? new Date(Date.UTC(1990, 0, 1 + i)) : null,
      tags: [{ name: 'garden', source: 'USER' as never, confidence: 1 }],
      thumbnails: ['256', '1024'].map((name) => ({
        name,
        width: Number(name),
        height: Number(name),
        mimeType: 'image/webp',
        storageKey: `chests/${chest.id}/derivatives/${chest.id}/${name}.webp`,
      })),
    }));
    chest.heroImage = assets[0]!;
    const published = await makeStory(em, chest, { status: StoryStatus.READY, published: true });
    chest.publishedStory = published;
    await makeStory(em, chest);
    await makeContribution(em, chest, { status: ContributionStatus.APPROVED });
    await makeContribution(em, chest);
    await em.flush();
    return chest;
  }

  /** A new owner with `n` chests of `assets` assets each, and their token. */
  async function ownerOf(n: number, assets = 3): Promise<string> {
    const { account, token: t } = await makeAccount(db.orm.em.fork());
    for (let i = 0; i < n; i++) await chestWith(assets, { by: account });
    return t;
  }

  const ONE_CHEST = `query($id: ID!) { chest(id: $id) { ${NESTED_CHEST} } }`;
  const CHEST_LIST = `{ chests(first: 50) { edges { node { ${NESTED_CHEST} } } } }`;

  it('does not grow with the number of assets in a chest (1 vs 200)', async () => {
    const small = await chestWith(1);
    const large = await chestWith(200);
    const forSmall = await statements(ONE_CHEST, { id: small.id });
    const forLarge = await statements(ONE_CHEST, { id: large.id });
    expect(forLarge).toBe(forSmall);
    // session + chest with the caller's role + members + hero + 2 asset pages + 2 counts + stories
    // + contributions + the published story + 2 summary statements
    expect(forSmall).toBeLessThanOrEqual(14);
  });

  it('every nested field of the chest: the same statements for 10 and for 100 assets', async () => {
    const ten = await statements(ONE_CHEST, { id: (await chestWith(10)).id });
    const hundred = await statements(ONE_CHEST, { id: (await chestWith(100)).id });
    expect(hundred).toBe(ten);
  });

  it('a reader outside the family (public chest, anonymous): the same statements for 10 and for 100 assets', async () => {
    // Non-members take other branches: neutral file names, thumbnails checked for hidden people
    // (one batched look-up), published stories only, no contributions, members or links.
    const READER = `query($id: ID!) { chest(id: $id) {
      id personName heroImage { id filename }
      assets(first: 100) { totalCount edges { cursor node { id filename dateTaken status location { latitude } tags { name } thumbnails { name url } } } }
      stories { edges { node { id title } } }
      publishedStory { id title }
      summary { totalAssets images totalBytes recentAssets { id } } } }`;
    const ten = await statements(READER, { id: (await chestWith(10, { isPublic: true })).id }, null);
    const hundred = await statements(READER, { id: (await chestWith(100, { isPublic: true })).id }, null);
    expect(hundred).toBe(ten);
  });

  it("chest(id): the chest and the caller's role in one statement, decided as before", async () => {
    const chest = await chestWith(1);
    const q = `query($id: ID!) { chest(id: $id) { id myRole } }`;
    // session + the chest joined with the caller's membership; myRole needs no statement of its own.
    expect(await statements(q, { id: chest.id })).toBe(2);
    const { token: stranger } = await makeAccount(db.orm.em.fork());
    db.queries.length = 0;
    expect((await gql.run(q, { id: chest.id }, { token: stranger })).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect(db.queries.length).toBe(2);
    const open = await chestWith(1, { isPublic: true });
    expect(await statements(q, { id: open.id }, stranger)).toBe(2);
    expect(await statements(q, { id: open.id }, null)).toBe(1);
  });

  it('summary.recentAssets: no statement unless selected, one when it is', async () => {
    const chest = await chestWith(12);
    const counts = await statements(`query($id: ID!) { chest(id: $id) { summary { totalAssets images totalBytes } } }`, { id: chest.id });
    const withRecent = await statements(`query($id: ID!) { chest(id: $id) { summary { totalAssets images totalBytes recentAssets { id } } } }`, { id: chest.id });
    // session + chest with the caller's role (one statement) + the summary's aggregate; the recent list is its own statement.
    expect(counts).toBe(3);
    expect(withRecent).toBe(counts + 1);
    expect(await statements(`query($id: ID!) { chest(id: $id) { summary { recentAssets { id } } } }`, { id: chest.id })).toBe(counts + 1);
  });

  it('stories: the hidden-names statement runs only when their text is selected, once per request', async () => {
    const chest = await chestWith(3);
    const q = (fields: string) => `query($id: ID!) { chest(id: $id) { stories { edges { node { ${fields} } } } } }`;
    const plain = await statements(q('id status'), { id: chest.id });
    // session + chest with the caller's role + the stories' page
    expect(plain).toBe(3);
    expect(await statements(q('id title'), { id: chest.id })).toBe(plain + 1);
    const viaFragment = `query($id: ID!) { chest(id: $id) { stories { edges { node { id ...T } } } } } fragment T on Story { title timeline { date } }`;
    expect(await statements(viaFragment, { id: chest.id })).toBe(plain + 1);
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
    // session + chest with role + people + counts + covers + their asset pages + asset page + faces +
    // people by id: 9. The two branches (people, assets) reach faces, people by id, counts and
    // covers at times set by their own statements: when one branch's answer comes a tick later the
    // loader batches twice, so a busy machine can see up to 4 more. The bound is the query's shape,
    // never the number of people, faces or memories.
    const SHAPE = 9 + 4;
    expect(one).toBeGreaterThanOrEqual(9);
    expect(one).toBeLessThanOrEqual(SHAPE);
    expect(thirty).toBeLessThanOrEqual(SHAPE);
  });

  it('does not grow with the number of chests in a list (1 vs 30)', async () => {
    const before = await statements(CHEST_LIST);
    for (let i = 0; i < 28; i++) await chestWith(3);
    const after = await statements(CHEST_LIST);
    expect(after).toBe(before);
  });

  it('every nested field of every chest in a list: the same statements for 1 and for 10 chests', async () => {
    const one = await statements(CHEST_LIST, undefined, await ownerOf(1));
    const ten = await statements(CHEST_LIST, undefined, await ownerOf(10));
    expect(ten).toBe(one);
  });

  it('chests { publishedStory }: the same statements for 1 and for 10 chests (no query per chest)', async () => {
    const q = `{ chests(first: 50) { edges { node { id publishedStory { id title } } } } }`;
    const one = await statements(q, undefined, await ownerOf(1));
    const ten = await statements(q, undefined, await ownerOf(10));
    expect(ten).toBe(one);
    // session + chests + roles + the published stories + hidden names (the title is scrubbed)
    expect(one).toBeLessThanOrEqual(5);
  });
  it('emptyBin: the same statements for 2 and for 20 memories in the bin (no statement per memory)', async () => {
    const emptied = async (n: number) => {
      const em = db.orm.em.fork();
      const chest = await makeChest(em, {}, owner);
      await makeAssets(em, chest, n, (i) => ({ deletedAt: new Date(Date.UTC(2026, 0, 1 + i)) }));
      await makeAssets(em, chest, 1);
      db.queries.length = 0;
      expect(ok(await gql.run(`mutation($id: ID!) { emptyBin(chestId: $id) }`, { id: chest.id }, { token })).emptyBin).toBe(n);
      return db.queries.length;
    };
    const [few, many] = [await emptied(2), await emptied(20)];
    expect(many).toBe(few);
  });

  it('Chest.bin with who binned each memory: the same statements for 1 and for 30 memories in the bin', async () => {
    const BIN = `query($id: ID!) { chest(id: $id) { bin(first: 50) { edges { cursor node { id deletedAt deletedBy { id displayName } thumbnails { url } } } pageInfo { hasNextPage } } } }`;
    const binOf = async (n: number) => {
      const em = db.orm.em.fork();
      const chest = await makeChest(em, {}, owner);
      const binners = [owner, (await makeAccount(em)).account, (await makeAccount(em)).account];
      await makeAssets(em, chest, n, (i) => ({ deletedAt: new Date(Date.UTC(2026, 0, 1 + i)), deletedBy: binners[i % 3] }));
      return chest;
    };
    const [one, many] = [await binOf(1), await binOf(30)];
    const forOne = await statements(BIN, { id: one.id });
    expect(await statements(BIN, { id: many.id })).toBe(forOne);
  });

  it('Contribution.assets: the same statements for 1 contribution of 1 memory and for 10 contributions of 5', async () => {
    const REVIEW = `query($id: ID!) { chest(id: $id) { contributions(first: 50) { edges { node { id assets(first: 50) { edges { node { id approvedAt thumbnails { url } } } } } } } } }`;
    const pendingIn = async (contributions: number, each: number) => {
      const em = db.orm.em.fork();
      const chest = await makeChest(em, { allowContributions: true }, owner);
      for (let c = 0; c < contributions; c++) {
        const contribution = await makeContribution(em, chest);
        await makeAssets(em, chest, each, () => ({ contribution }));
      }
      return chest;
    };
    const [small, large] = [await pendingIn(1, 1), await pendingIn(10, 5)];
    const forSmall = await statements(REVIEW, { id: small.id });
    expect(await statements(REVIEW, { id: large.id })).toBe(forSmall);
  });
});
