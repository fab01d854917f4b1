import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Chest, Contribution } from '../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, StoryStatus, TagSource } from '../src/db/enums.js';
import { indexStories } from '../src/domain/search/story-entries.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution, makeStory } from './support/factories.js';
import { createGraphQLRunner } from './support/graphql.js';
import { makeFace, makePerson } from './support/people.js';

/**
 * Search (domain/search) on both databases: what each reader finds, inside the one statement;
 * texts kept current by the triggers and by story indexing; filters, pages, input errors, and a
 * page costing the same number of statements however many hits it holds.
 */

const SEARCH = `query($chestId: ID!, $query: String!, $filter: SearchFilterInput, $first: Int, $after: String) {
  search(chestId: $chestId, query: $query, filter: $filter, first: $first, after: $after) {
    edges { cursor node { field snippet atSeconds rank asset { id caption } story { id title } contribution { id message } } }
    pageInfo { hasNextPage endCursor }
  }
}`;

interface Hit {
  field: string;
  snippet: string;
  atSeconds: number | null;
  rank: number;
  asset: { id: string; caption: string | null } | null;
  story: { id: string; title: string } | null;
  contribution: { id: string; message: string | null } | null;
}
type Page = { search: { edges: { cursor: string; node: Hit }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } };

describe.each(BACKENDS)('search on %s', (backend) => {
  let db: TestDatabase;
  let queue: JobQueue;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let chest: Chest;
  let owner: string;
  let viewer: string;
  let stranger: string;
  let shareToken: string;
  const ids: Record<string, string> = {};
  const em = () => db.orm.em.fork();

  const find = async (query: string, as: { token?: string; shareToken?: string }, extra: Record<string, unknown> = {}) => {
    const res = await gql.run<Page>(SEARCH, { chestId: chest.id, query, ...extra }, as);
    expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
    return res.data!.search;
  };
  const hits = async (query: string, as: { token?: string; shareToken?: string }, extra: Record<string, unknown> = {}) =>
    (await find(query, as, extra)).edges.map((e) => e.node);
  const errorOf = async (vars: Record<string, unknown>, as: { token?: string; shareToken?: string } = { token: owner }) => {
    const res = await gql.run<Page>(SEARCH, { chestId: chest.id, ...vars }, as);
    return res.errors?.[0]?.extensions;
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    // Started before any mutation, as the product starts it: on PGlite a transaction holds the only
    // connection, so a queue opened lazily inside hidePerson's transaction would wait for it.
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log: pino({ level: 'silent' }) });
    gql = await createGraphQLRunner(db.orm, { queue });
    const e = em();
    const o = await makeAccount(e);
    const v = await makeAccount(e);
    const s = await makeAccount(e);
    owner = o.token;
    viewer = v.token;
    stranger = s.token;
    chest = await makeChest(e, { personName: 'Rose Ellis', description: 'A gardener who loved the sea' }, o.account);
    await addMember(e, chest, v.account, ChestRole.VIEWER);
    const share = await gql.run<{ createShareLink: { token: string } }>(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chest.id }, { token: owner });
    shareToken = share.data!.createShareLink.token;

    const done = { status: ProcessingStatus.COMPLETE };
    const picnic = await makeAsset(e, chest, {
      ...done,
      caption: 'Picnic by the lighthouse',
      place: 'Whitby',
      tags: [{ name: 'beach', source: TagSource.USER, confidence: 1 }],
      dateTaken: new Date('1975-07-01T12:00:00Z'),
      // Neither the coordinates' place name nor the file name is ever searchable.
      location: { latitude: 54.48, longitude: -0.61, placeName: 'Hollyhockton' },
      filename: 'quinceberry-lane.jpg',
    });
    const binned = await makeAsset(e, chest, { ...done, caption: 'The lighthouse keeper', deletedAt: new Date() });
    const pending = await makeContribution(e, chest, { message: 'I remember the marmalade she made' });
    const pendingPhoto = await makeAsset(e, chest, { ...done, caption: 'Lighthouse seen by a guest', contribution: pending });
    const approved = await makeContribution(e, chest, { message: 'Her porridge recipe', status: ContributionStatus.APPROVED });
    const approvedPhoto = await makeAsset(e, chest, { ...done, caption: 'Marmalade jars on the shelf', contribution: approved, dateTaken: new Date('1983-01-02T00:00:00Z') });
    const recording = await makeAsset(e, chest, {
      ...done,
      fileType: FileType.AUDIO,
      mimeType: 'audio/mp4',
      transcription: { text: 'we walked to the harbour then we saw the lighthouse', language: 'en', rough: true, segments: [{ start: 0, end: 2.5, text: 'we walked to the harbour' }, { start: 3.25, end: 6, text: 'then we saw the lighthouse' }] },
      dateTaken: new Date('1978-05-05T00:00:00Z'),
    });
    const letter = await makeAsset(e, chest, { ...done, fileType: FileType.DOCUMENT, mimeType: 'application/pdf', extractedText: 'Dearest Rose, the <b>lighthouse</b> «lamp» was lit.' });
    const tom = await makePerson(e, chest, { name: 'Tom Baker', hidden: true });
    const alice = await makePerson(e, chest, { name: 'Alice Moss' });
    await makeFace(e, picnic, tom);
    await makeFace(e, picnic, alice);
    await makeFace(e, approvedPhoto, alice);
    const published = await makeStory(e, chest, { status: StoryStatus.READY, published: true, title: 'A life by the sea', content: 'She kept the lighthouse lamp. Tom Baker rowed with her.' });
    const draft = await makeStory(e, chest, { status: StoryStatus.READY, title: 'Draft', content: 'The zeppelin summer.' });
    e.getReference(Chest, chest.id).publishedStory = published;
    await e.flush();
    await indexStories(e, { chestIds: [chest.id] });
    Object.assign(ids, { picnic: picnic.id, binned: binned.id, pending: pending.id, pendingPhoto: pendingPhoto.id, approved: approved.id, approvedPhoto: approvedPhoto.id, recording: recording.id, letter: letter.id, tom: tom.id, alice: alice.id, published: published.id, draft: draft.id });
  });
  afterAll(async () => {
    await gql?.stop();
    await queue?.stop();
    await db?.close();
  });

  it('finds a word in every kind of text the owner may read, with highlighted snippets and the segment time', async () => {
    const found = await hits('lighthouse', { token: owner });
    const where = found.map((h) => [h.field, h.asset?.id ?? h.story?.id ?? null]);
    expect(where).toEqual(
      expect.arrayContaining([
        ['CAPTION', ids.picnic],
        ['TRANSCRIPT', ids.recording],
        ['DOCUMENT_TEXT', ids.letter],
        ['STORY', ids.published],
      ]),
    );
    // Binned memories and a pending contribution's memories are found by nobody.
    expect(found.map((h) => h.asset?.id)).not.toContain(ids.binned);
    expect(found.map((h) => h.asset?.id)).not.toContain(ids.pendingPhoto);
    const transcript = found.find((h) => h.field === 'TRANSCRIPT')!;
    expect(transcript).toMatchObject({ atSeconds: 3.25, snippet: 'then we saw the «lighthouse»' });
    // The text's own markup and markers come back as plain characters, never as tags.
    const document = found.find((h) => h.field === 'DOCUMENT_TEXT')!;
    expect(document.snippet).toContain('Dearest Rose, the ‹b›«lighthouse»‹/b› ‹lamp');
    expect(document.snippet).not.toMatch(/[<>]/);
    // Best first.
    expect(found.map((h) => h.rank)).toEqual([...found.map((h) => h.rank)].sort((a, b) => b - a));
    // Stemmed: "harbours" finds "harbour"; places and the chest's own words too.
    expect((await hits('harbours', { token: owner })).map((h) => h.field)).toEqual(['TRANSCRIPT']);
    expect((await hits('Whitby', { token: owner })).map((h) => [h.field, h.asset?.id])).toEqual([['PLACE', ids.picnic]]);
    expect((await hits('gardener', { token: owner })).map((h) => [h.field, h.asset, h.story])).toEqual([['CHEST_DESCRIPTION', null, null]]);
    // Words spread over a memory's caption and place: found as the memory's texts together.
    const spread = await hits('picnic whitby', { token: owner });
    expect(spread.map((h) => [h.field, h.asset?.id])).toEqual([['MEMORY', ids.picnic]]);
    expect(spread[0]!.snippet).toContain('«Picnic»');
    expect(spread[0]!.snippet).toContain('«Whitby»');
    // Websearch syntax: a phrase, and a word left out.
    expect((await hits('"saw the lighthouse"', { token: owner })).map((h) => h.field)).toEqual(['TRANSCRIPT']);
    expect((await hits('lighthouse -picnic -lamp -harbour -saw', { token: owner })).map((h) => h.field)).toEqual([]);
  });

  it('never finds locations or file names', async () => {
    for (const reader of [{ token: owner }, { shareToken }]) {
      expect(await hits('Hollyhockton', reader)).toEqual([]);
      expect(await hits('quinceberry', reader)).toEqual([]);
    }
  });

  it('who finds what: members, a view link, the public, strangers', async () => {
    const anonymous = {};
    // A private chest is NOT_FOUND for strangers and anonymous callers.
    expect(await errorOf({ query: 'lighthouse' }, { token: stranger })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await errorOf({ query: 'lighthouse' }, anonymous)).toMatchObject({ code: 'NOT_FOUND' });

    const people = async (as: object) => (await hits('Tom OR Alice', as)).map((h) => `${h.field}:${h.snippet}:${h.asset?.id}`).sort();
    // Hidden people's names: members only. Stories never name them (their text is indexed as read).
    const everyone = [`PERSON:«Alice» Moss:${ids.approvedPhoto}`, `PERSON:«Alice» Moss:${ids.picnic}`].sort();
    expect(await people({ token: owner })).toEqual([...everyone, `PERSON:«Tom» Baker:${ids.picnic}`].sort());
    expect(await people({ token: viewer })).toEqual([...everyone, `PERSON:«Tom» Baker:${ids.picnic}`].sort());
    expect(await people({ shareToken })).toEqual(everyone);
    expect((await hits('someone rowed', { token: owner })).map((h) => h.story?.id)).toEqual([ids.published]);

    // Guests' messages: owners and editors, pending ones too; never viewers or link holders.
    const messages = async (as: object) => (await hits('marmalade OR porridge', as)).filter((h) => h.field === 'MESSAGE').map((h) => h.contribution?.id).sort();
    expect(await messages({ token: owner })).toEqual([ids.pending, ids.approved].sort());
    expect(await messages({ token: viewer })).toEqual([]);
    expect(await messages({ shareToken })).toEqual([]);
    // An approved contribution's memory is found by everyone who reads the chest.
    expect((await hits('jars', { shareToken })).map((h) => h.asset?.id)).toEqual([ids.approvedPhoto]);

    // Stories: members every story's latest version, others the published one.
    expect((await hits('zeppelin', { token: viewer })).map((h) => h.story?.id)).toEqual([ids.draft]);
    expect(await hits('zeppelin', { shareToken })).toEqual([]);

    // Public: anyone reads it, and finds what a view link's holder finds.
    await gql.run(`mutation($id: ID!) { updateChest(id: $id, input: { isPublic: true }) { id } }`, { id: chest.id }, { token: owner });
    try {
      expect(await people(anonymous)).toEqual(everyone);
      expect(await hits('zeppelin', anonymous)).toEqual([]);
      expect(await messages(anonymous)).toEqual([]);
      expect((await hits('lighthouse', anonymous)).map((h) => h.asset?.id)).not.toContain(ids.pendingPhoto);
    } finally {
      await gql.run(`mutation($id: ID!) { updateChest(id: $id, input: { isPublic: false }) { id } }`, { id: chest.id }, { token: owner });
    }
  });

  it('stays current: edits, approval, binning and hiding are searched at once', async () => {
    const e = em();
    const extra = await makeAsset(e, chest, { status: ProcessingStatus.COMPLETE, caption: 'An old bicycle' });
    expect((await hits('bicycle', { token: owner })).map((h) => h.asset?.id)).toEqual([extra.id]);
    const edited = await gql.run(`mutation($id: ID!) { updateMemory(assetId: $id, input: { caption: "A red tricycle" }) { id } }`, { id: extra.id }, { token: owner });
    expect(edited.errors).toBeUndefined();
    expect(await hits('bicycle', { token: owner })).toEqual([]);
    expect((await hits('tricycle', { token: owner })).map((h) => h.asset?.id)).toEqual([extra.id]);
    // Binned: gone from every search at once.
    await e.nativeUpdate(Asset, { id: extra.id }, { deletedAt: new Date() });
    expect(await hits('tricycle', { token: owner })).toEqual([]);

    // A person named, then hidden: found by non-members only while shown; the story rewritten as read.
    const named = await gql.run(`mutation($id: ID!) { namePerson(personId: $id, name: "Alice Moss-Hart") { id } }`, { id: ids.alice }, { token: owner });
    expect(named.errors).toBeUndefined();
    expect((await hits('Hart', { shareToken })).length).toBe(2);
    const setHidden = async (hidden: boolean) => {
      const res = await gql.run(`mutation($id: ID!) { ${hidden ? 'hidePerson' : 'unhidePerson'}(personId: $id) { id } }`, { id: ids.alice }, { token: owner });
      expect(res.errors).toBeUndefined();
    };
    await setHidden(true);
    expect(await hits('Hart', { shareToken })).toEqual([]);
    expect((await hits('Hart', { token: viewer })).length).toBe(2);
    await setHidden(false);

    // A story edited by hand: the new version is found, the old one's words no longer (members: latest versions).
    const version = await gql.run<{ editStory: { id: string } }>(
      `mutation($id: ID!) { editStory(storyId: $id, input: { content: "The zeppelin summer, and the airship hangar." }) { id } }`,
      { id: ids.draft },
      { token: owner },
    );
    expect(version.errors).toBeUndefined();
    const newId = version.data!.editStory.id;
    expect((await hits('hangar', { token: owner })).map((h) => h.story?.id)).toEqual([newId]);
    expect((await hits('zeppelin', { token: owner })).map((h) => h.story?.id)).toEqual([newId]);
  });

  it('filters: kinds, dates, tags, people, one contribution', async () => {
    const assetsOf = async (filter: object, query = 'lighthouse OR marmalade OR Alice') =>
      [...new Set((await hits(query, { token: owner }, { filter })).map((h) => h.asset?.id ?? `not a memory: ${h.field}`))].sort();
    expect(await assetsOf({ types: ['AUDIO', 'DOCUMENT'] })).toEqual([ids.recording, ids.letter].sort());
    expect(await assetsOf({ dateFrom: '1976-01-01', dateTo: '1983-01-02' })).toEqual([ids.recording, ids.approvedPhoto].sort());
    expect(await assetsOf({ tags: ['BEACH'] })).toEqual([ids.picnic]);
    expect(await assetsOf({ people: [ids.alice] })).toEqual([ids.picnic, ids.approvedPhoto].sort());
    expect(await assetsOf({ people: [ids.alice, ids.tom] })).toEqual([ids.picnic]);
    // Outside the family a hidden person is nobody to filter by.
    expect((await hits('lighthouse', { shareToken }, { filter: { people: [ids.tom] } }))).toEqual([]);
    // One contribution: its memories and, for moderators, its message.
    const contribution = (await hits('marmalade OR porridge OR jars', { token: owner }, { filter: { contributor: ids.approved } })).map((h) => `${h.field}:${h.asset?.id ?? h.contribution?.id}`).sort();
    expect(contribution).toEqual([`CAPTION:${ids.approvedPhoto}`, `MESSAGE:${ids.approved}`].sort());
  });

  it('pages through equal ranks without repeating or skipping a hit', async () => {
    const e = em();
    const kites = await Promise.all(Array.from({ length: 7 }, () => makeAsset(e.fork(), chest, { status: ProcessingStatus.COMPLETE, caption: 'A kite' })));
    const seen: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page = await find('kite', { token: owner }, { first: 3, after });
      seen.push(...page.edges.map((edge) => edge.node.asset!.id));
      pages++;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(pages).toBe(3);
    expect(seen.sort()).toEqual(kites.map((k) => k.id).sort());
    expect(new Set(seen).size).toBe(7);
  });

  it('refuses bad input with stable codes', async () => {
    expect(await errorOf({ query: '   ' })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'query' });
    expect(await errorOf({ query: 'x'.repeat(201) })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'query' });
    expect(await errorOf({ query: 'kite', after: 'not-a-cursor' })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    expect(await errorOf({ query: 'kite', first: 0 })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'first' });
    expect(await errorOf({ query: 'kite', filter: { people: ['nobody'] } })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.people.0' });
    expect(await errorOf({ query: 'kite', filter: { dateFrom: '1990-01-02', dateTo: '1990-01-01' } })).toMatchObject({ code: 'BAD_USER_INPUT', field: 'filter.dateTo' });
    expect(await errorOf({ query: 'kite', filter: { dateFrom: '1990-01-01', dateTo: '1990-01-01' } })).toBeUndefined();
    expect(await errorOf({ query: 'kite', chestId: '00000000-0000-4000-8000-000000000000' })).toMatchObject({ code: 'NOT_FOUND' });
    // Only words a search ignores ("the"): no hits, not an error.
    expect(await hits('the', { token: owner })).toEqual([]);
  });

  it('a page costs the same statements with two hits or twenty, memories, stories and messages alike', async () => {
    const count = async (query: string, first: number) => {
      db.queries.length = 0;
      const page = await find(query, { token: owner }, { first });
      const kinds = new Set(page.edges.map((e) => (e.node.asset ? 'asset' : e.node.story ? 'story' : e.node.contribution ? 'contribution' : 'chest')));
      return { statements: db.queries.length, hits: page.edges.length, kinds: [...kinds].sort() };
    };
    await Promise.all(Array.from({ length: 12 }, () => makeAsset(em(), chest, { status: ProcessingStatus.COMPLETE, caption: 'A paper lantern' })));
    const few = await count('Whitby OR gardener', 50);
    expect(few).toMatchObject({ hits: 2, kinds: ['asset', 'chest'] });
    const many = await count('lantern OR marmalade OR porridge OR zeppelin', 50);
    expect(many.hits).toBeGreaterThanOrEqual(15);
    expect(many.kinds).toEqual(['asset', 'contribution', 'story']);
    // A page holding stories and messages too: their loaders and the chest's name scrubber (story titles), once each.
    expect(many.statements).toBe(few.statements + 3);
    const fewer = await count('marmalade OR zeppelin', 50);
    expect(fewer.kinds).toEqual(['asset', 'contribution', 'story']);
    expect(fewer.hits).toBeLessThan(many.hits);
    expect(fewer.statements).toBe(many.statements);
  });
});
