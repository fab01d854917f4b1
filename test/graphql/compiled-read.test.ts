import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, type OperationDefinitionNode } from 'graphql';
import { Account } from '../../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, StoryStatus, TagSource } from '../../src/db/enums.js';
import { planChest } from '../../src/graphql/compiled/chest-plan.js';
import { fieldSource } from '../../src/graphql/compiled/field-sources.js';
import { createSchema } from '../../src/graphql/schema.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/db.js';
import { addMember, makeAsset, makeAssets, makeChest, makeContribution, makeStory } from '../support/factories.js';
import { ok, type RunOptions } from '../support/graphql.js';
import { isCompiledStatement, makeCast, normalised, type Runner, type RunnerPair, runnerPair } from '../support/compiled-read.js';
import { makeFace, makePerson } from '../support/people.js';

/** Issue 14's nested chest query, as the benchmark asks it. */
const BENCH = `query($id: ID!) { chest(id: $id) { id personName summary { totalAssets images totalBytes }
  assets(first: 100) { edges { node { id filename dateTaken status tags { name source confidence } thumbnails { name width height mimeType } } } }
  stories { edges { node { id title status } } } contributions { edges { node { id contributorName status } } } } }`;

/** Documents the compiled read answers, each compared with graphql-js's answer for every reader. */
const COMPILED: Record<string, string> = {
  bench: BENCH,
  everyAssetField: `query($id: ID!) { chest(id: $id) { __typename assets(first: 50) { __typename pageInfo { hasNextPage endCursor } edges { cursor node {
    __typename id filename fileType mimeType size status dateTaken createdAt updatedAt caption place width height durationSeconds progress processingStage
    location { latitude longitude } placeholder mediaInfo tags { name source confidence } thumbnails { name width height mimeType url } originalUrl previewUrl previewMimeType } } } } }`,
  firstPage: `query($id: ID!) { chest(id: $id) { assets(first: 4) { pageInfo { hasNextPage endCursor } edges { cursor node { id dateTaken } } } } }`,
  filtered: `query($id: ID!) { chest(id: $id) { assets(first: 20, types: [AUDIO, DOCUMENT], statuses: [COMPLETE, PENDING]) { edges { node { id fileType filename } } } } }`,
  aliases: `query($id: ID!) { box: chest(id: $id) { a: id b: personName s: summary { t: totalAssets bytes: totalBytes recent: recentAssets { id filename } } } }`,
  stories: `query($id: ID!) { chest(id: $id) { stories(first: 5) { pageInfo { hasNextPage } edges { node { id title content status published } } } } }`,
  contributions: `query($id: ID!) { chest(id: $id) { contributions(status: PENDING) { edges { node { id contributorName status } } } } }`,
  otherChestFields: `query($id: ID!) { chest(id: $id) { id myRole isPublic personName heroImage { id filename } assets(first: 2) { totalCount edges { node { id } } } } }`,
};

/** Documents it leaves to graphql-js; their answers must not change either. */
const REFUSED: Record<string, string> = {
  fragment: `query($id: ID!) { chest(id: $id) { ...C } } fragment C on Chest { id assets(first: 3) { edges { node { id filename } } } }`,
  directive: `query($id: ID!, $no: Boolean!) { chest(id: $id) { id personName @skip(if: $no) } }`,
  twoLists: `query($id: ID!) { chest(id: $id) { assets(first: 2) { edges { node { id } } } images: assets(first: 1, types: [IMAGE]) { edges { node { id } } } } }`,
  twoRoots: `query($id: ID!) { chest(id: $id) { id } chests { edges { node { id } } } }`,
};

describe.each(BACKENDS)('compiled chest read (%s): the same answers as graphql-js, in fewer statements', (backend) => {
  let db: TestDatabase;
  let pair: RunnerPair;
  let compiled: Runner;
  let executed: Runner;
  let readers: Record<string, RunOptions>;
  let openId: string;
  let closedId: string;
  let secondPage: string;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    pair = await runnerPair(db);
    ({ compiled, executed } = pair);
    const em = db.orm.em.fork();
    const { owner, editor, viewer, stranger } = await makeCast(em);
    const open = await makeChest(em, { isPublic: true, personName: 'Ada Example' }, em.getReference(Account, owner.account.id));
    const closed = await makeChest(em, { personName: 'Private Person' }, em.getReference(Account, owner.account.id));
    await addMember(em, open, em.getReference(Account, editor.account.id), ChestRole.EDITOR);
    await addMember(em, open, em.getReference(Account, viewer.account.id), ChestRole.VIEWER);
    const kinds = [
      { fileType: FileType.IMAGE, mimeType: 'image/jpeg' },
      { fileType: FileType.AUDIO, mimeType: 'audio/mp4' },
      { fileType: FileType.DOCUMENT, mimeType: 'application/pdf' },
      { fileType: FileType.VIDEO, mimeType: 'video/mp4' },
    ];
    const assets = await makeAssets(em, open, 14, (i) => ({
      ...kinds[i % 4]!,
      filename: `Home at 12 Elm Street ${i}.jpg`,
      status: i % 5 === 4 ? ProcessingStatus.PENDING : ProcessingStatus.COMPLETE,
      location: { latitude: 51.5 + i / 100, longitude: -0.1 },
      place: i % 2 ? 'Whitby' : null,
      caption: `Memory ${i}`,
      // Some undated, and two taken at the same moment: the order then falls to created_at and id.
      dateTaken: i % 3 === 0 ? null : new Date(Date.UTC(1980 + (i % 7), 5, 1)),
      width: 640,
      height: 480,
      mediaInfo: { camera: 'Pentax', format: 'jpeg' } as never,
      placeholder: `placeholder-${i}`,
      tags: [
        { name: 'garden', source: TagSource.USER, confidence: 1 },
        { name: 'dog', source: TagSource.AI, confidence: 0.75 },
      ] as never,
      thumbnails: ['256', '1024'].map((name) => ({ name, width: Number(name), height: Number(name), mimeType: 'image/webp', storageKey: `chests/${open.id}/derivatives/${i}/${name}.webp` })),
    }));
    open.heroImage = assets[1]!;
    // A person the family hid, on the first photo: people outside the family must not get its thumbnails.
    const hidden = await makePerson(em, open, { name: 'Rose Hidden', hidden: true });
    await makeFace(em, assets[0]!, hidden);
    await makeAsset(em, open, { deletedAt: new Date(), filename: 'binned.jpg' });
    const pending = await makeContribution(em, open, { contributorName: 'A neighbour' });
    await makeAsset(em, open, { contribution: pending, filename: 'pending.jpg', status: ProcessingStatus.COMPLETE });
    const approved = await makeContribution(em, open, { contributorName: 'A cousin', status: ContributionStatus.APPROVED });
    await makeAsset(em, open, { contribution: approved, approvedAt: new Date(), filename: 'approved.jpg', status: ProcessingStatus.COMPLETE });
    await makeStory(em, open, { title: 'Rose Hidden and Ada in the garden', content: 'Rose Hidden laughed.', status: StoryStatus.READY, published: true });
    await makeStory(em, open, { title: 'A draft', status: StoryStatus.READY });
    await em.flush();
    openId = open.id;
    closedId = closed.id;
    const share = ok(await compiled.run(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: open.id }, { token: owner.token })).createShareLink.token;
    readers = {
      owner: { token: owner.token },
      editor: { token: editor.token },
      viewer: { token: viewer.token },
      stranger: { token: stranger.token },
      anonymous: {},
      shareLink: { shareToken: share },
    };
    secondPage = ok(await executed.run(COMPILED.firstPage!, { id: openId }, readers.owner)).chest.assets.pageInfo.endCursor;
  });
  afterAll(async () => {
    await pair?.stop();
    await db?.close();
  });

  const both = (query: string, variables: Record<string, unknown>, as: RunOptions) => pair.both(query, variables, as);

  for (const [name, query] of Object.entries(COMPILED)) {
    it(`${name}: every reader gets graphql-js's answer, through the compiled read`, async () => {
      for (const [reader, as] of Object.entries(readers)) {
        const { fast, slow, statements } = await both(query, { id: openId }, as);
        expect({ reader, answer: normalised(fast) }).toEqual({ reader, answer: normalised(slow) });
        if (!slow.errors) expect({ reader, compiled: statements.some(isCompiledStatement) }).toEqual({ reader, compiled: true });
      }
    });
  }

  it('a second page (after a cursor) is the same page', async () => {
    const query = COMPILED.firstPage!.replace('assets(first: 4)', 'assets(first: 4, after: $after)').replace('($id: ID!)', '($id: ID!, $after: String)');
    const { fast, slow, statements } = await both(query, { id: openId, after: secondPage }, readers.owner!);
    expect(ok(fast).chest.assets.edges).toHaveLength(4);
    expect(normalised(fast)).toEqual(normalised(slow));
    expect(statements.some(isCompiledStatement)).toBe(true);
  });

  it('errors are graphql-js\'s: a chest you may not see, a bad page size, a viewer asking for contributions', async () => {
    const cases: [string, Record<string, unknown>, RunOptions][] = [
      [BENCH, { id: closedId }, readers.stranger!],
      [BENCH, { id: closedId }, readers.anonymous!],
      [BENCH, { id: 'not-a-uuid' }, readers.owner!],
      [COMPILED.contributions!, { id: openId }, readers.viewer!],
      [COMPILED.stories!.replace('first: 5', 'first: 0'), { id: openId }, readers.owner!],
      [COMPILED.firstPage!.replace('assets(first: 4)', 'assets(first: 4, after: "forged")'), { id: openId }, readers.owner!],
    ];
    const codes: unknown[] = [];
    for (const [query, variables, as] of cases) {
      const { fast, slow } = await both(query, variables, as);
      expect(normalised(fast)).toEqual(normalised(slow));
      codes.push(fast.errors?.[0]?.extensions?.code);
    }
    expect(codes).toEqual(['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND', 'FORBIDDEN', 'BAD_USER_INPUT', 'BAD_USER_INPUT']);
  });

  for (const [name, query] of Object.entries(REFUSED)) {
    it(`${name}: left to graphql-js, answered as before`, async () => {
      const { fast, slow, statements } = await both(query, { id: openId, no: false }, readers.owner!);
      expect(fast.errors).toBeUndefined();
      expect(normalised(fast)).toEqual(normalised(slow));
      expect(statements.some(isCompiledStatement)).toBe(false);
    });
  }

  it("issue 14's nested query: session, chest with the caller's role, then one statement for everything under it", async () => {
    const { fast, statements } = await both(BENCH, { id: openId }, readers.owner!);
    expect(ok(fast).chest.assets.edges.length).toBeGreaterThan(10);
    expect(statements).toHaveLength(3);
    expect(statements.filter(isCompiledStatement)).toHaveLength(1);
    db.queries.length = 0;
    ok(await executed.run(BENCH, { id: openId }, readers.owner!));
    // session + chest + summary + memories + stories + hidden names + contributions
    expect(db.queries).toHaveLength(7);
  });
});

describe('compiled chest read: what it refuses and how it resolves each field', () => {
  it('plans one chest query, refuses fragments, directives, repeated lists and other root fields', async () => {
    const schema = await createSchema();
    const plan = (query: string) => planChest(schema, parse(query).definitions[0] as OperationDefinitionNode);
    expect(plan(BENCH)?.parts.size).toBe(4);
    expect(plan(COMPILED.everyAssetField!)).not.toBeNull();
    for (const query of Object.values(REFUSED)) expect(plan(query)).toBeNull();
    expect(plan(`mutation { deleteChest(id: "x") { id } }`)).toBeNull();
    expect(plan(`{ chest(id: "x") { people { edges { node { id } } } } }`)).toBeNull();
    expect(plan(`{ chest(id: "x") { timeline { undated } } }`)).toBeNull();
  });

  it("reads type-graphql's metadata: plain fields as properties, root-and-context resolvers as calls, the rest refused", async () => {
    await createSchema();
    expect(fieldSource('Asset', 'id')).toEqual({ kind: 'property', property: 'id' });
    expect(fieldSource('Asset', 'dateTaken')?.kind).toBe('property');
    expect(fieldSource('Asset', 'filename')?.kind).toBe('method');
    expect(fieldSource('Asset', 'thumbnails')?.kind).toBe('method');
    expect(fieldSource('Asset', 'location')?.kind).toBe('method');
    expect(fieldSource('Thumbnail', 'url')?.kind).toBe('method');
    expect(fieldSource('Story', 'title')?.kind).toBe('method');
    expect(fieldSource('Chest', 'assets')?.kind).toBe('other');
    expect(fieldSource('Chest', 'summary')?.kind).toBe('method');
    // A storage key is never a GraphQL field, so it has no source at all.
    expect(fieldSource('Asset', 'storageKey')).toBeUndefined();
  });
});
