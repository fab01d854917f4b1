import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account } from '../../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, StoryStatus, TagSource } from '../../src/db/enums.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { openOrm } from '../../src/db/orm.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/db.js';
import { addMember, makeAccount, makeAsset, makeAssets, makeChest, makeContribution, makeStory } from '../support/factories.js';
import { createGraphQLRunner, ok, type RunOptions } from '../support/graphql.js';
import { isCompiledStatement, makeCast, normalised, type Runner, type RunnerPair, runnerPair, unhandledRejectionsDuring } from '../support/compiled-read.js';
import { makeFace, makePerson } from '../support/people.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Review of the compiled chest read (src/graphql/compiled/): more documents, data and readers
 * than compiled-read.test.ts, each answer compared with graphql-js's as JSON text (so the order
 * of keys counts too), signed links compared without their expiry.
 */

const CHEST_SCALARS = `__typename id createdAt updatedAt personName description birthDate passingDate isPublic allowContributions shareTokenExpiresAt contributionTokenExpiresAt deletedAt myRole`;

const ASSET_EVERYTHING = `__typename id filename fileType mimeType size sha256 status progress processingStage processedAt processingError dateTaken createdAt updatedAt
  place caption width height durationSeconds placeholder perceptualHash waveform mediaInfo extractedText deletedAt approvedAt canDelete
  location { latitude longitude altitude placeName } tags { name source confidence } thumbnails { name width height mimeType url }
  transcription { text language rough confidence } analyses { task status provider model error at }
  originalUrl previewUrl previewMimeType deletedBy { id } contributors { kind name } faces { id person { id name } }`;

const STORY_EVERYTHING = `__typename id title content style status error version published includeTimeline includeThemes createdAt updatedAt
  paragraphs { text assetIds removedAssetIds } timeline { date title description assetIds removedAssetIds }
  themes { name description assetIds removedAssetIds } generation { provider model generatedAt durationMs droppedClaims leftOutMemories }`;

/** Documents the compiled read plans; each is asked by every reader of both chests. */
const DOCUMENTS: Record<string, string> = {
  // summary: a part, so that the compiled read's one statement shows it answered (a document without parts runs none).
  chestScalars: `query($id: ID!) { chest(id: $id) { ${CHEST_SCALARS} summary { totalAssets } } }`,
  membersAndLinks: `query($id: ID!) { chest(id: $id) { id myRole summary { totalAssets } members { __typename role account { id displayName } } links { shareLinkActive shareLinkAllowsOriginals shareLinkExpiresAt contributionLinkActive contributionLinkExpiresAt } } }`,
  // members (a promise that rejects for non-members) before a part
  membersThenAssets: `query($id: ID!) { chest(id: $id) { members { role } assets(first: 30) { edges { node { id durationSeconds } } } } }`,
  heroImage: `query($id: ID!) { chest(id: $id) { heroImage { ${ASSET_EVERYTHING} } } }`,
  publishedStory: `query($id: ID!) { chest(id: $id) { publishedStory { ${STORY_EVERYTHING} } stories { edges { node { id } } } } }`,
  storiesEverything: `query($id: ID!) { chest(id: $id) { stories(first: 10) { __typename pageInfo { __typename hasNextPage endCursor } edges { __typename cursor node { ${STORY_EVERYTHING} } } } } }`,
  storiesUnscrubbed: `query($id: ID!) { chest(id: $id) { stories { edges { node { id published status } } } publishedStory { title } } }`,
  contributionsEverything: `query($id: ID!) { chest(id: $id) { contributions(first: 10) { pageInfo { hasNextPage endCursor } edges { cursor node { __typename id contributorName relationship message status reviewedAt rejectionReason createdAt updatedAt } } } } }`,
  assetsEverything: `query($id: ID!) { chest(id: $id) { assets(first: 40) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { ${ASSET_EVERYTHING} } } } } }`,
  // Only some columns read (asset-properties.ts): each field alone, so each resolver sees a narrow row.
  onlyFilename: `query($id: ID!) { chest(id: $id) { assets(first: 40) { edges { node { filename } } } } }`,
  onlyThumbnails: `query($id: ID!) { chest(id: $id) { assets(first: 40) { edges { node { thumbnails { url name } } } } } }`,
  onlyPlaceholder: `query($id: ID!) { chest(id: $id) { assets(first: 40) { edges { node { placeholder } } } } }`,
  onlyLocation: `query($id: ID!) { chest(id: $id) { assets(first: 40) { edges { node { location { latitude longitude } } } } } }`,
  onlyPreview: `query($id: ID!) { chest(id: $id) { assets(first: 40) { edges { node { previewUrl previewMimeType originalUrl } } } } }`,
  narrowScalars: `query($id: ID!) { chest(id: $id) { assets(first: 40) { edges { node { size durationSeconds perceptualHash sha256 width tags { confidence } processedAt approvedAt } } } } }`,
  summaryEverything: `query($id: ID!) { chest(id: $id) { summary { __typename totalAssets images videos audio documents processed pending failed totalBytes
    recentAssets { id filename placeholder location { latitude } thumbnails { url } mediaInfo } } } }`,
  aliasesEverywhere: `query($id: ID!) { c: chest(id: $id) { t: __typename k: id s: summary { n: totalAssets } a: assets(first: 3) { c: totalCount e: edges { n: node { i: id f: filename l: location { la: latitude } } } p: pageInfo { more: hasNextPage } }
    st: stories(first: 2) { e: edges { n: node { x: title y: id } } } } }`,
  keyOrder: `query($id: ID!) { chest(id: $id) { summary { totalBytes } myRole assets(first: 2) { edges { node { thumbnails { url } id } } totalCount } id personName heroImage { filename } } }`,
  filteredTotals: `query($id: ID!) { chest(id: $id) { assets(first: 2, types: [AUDIO, VIDEO], statuses: [FAILED, COMPLETE, PENDING]) { totalCount edges { node { id fileType status } } } } }`,
  emptyFilters: `query($id: ID!) { chest(id: $id) { assets(first: 2, types: [], statuses: []) { totalCount edges { node { id } } } } }`,
  nullArgs: `query($id: ID!) { chest(id: $id) { assets(first: null, after: null, types: null) { totalCount edges { node { id } } } stories(first: null) { edges { node { id } } } } }`,
};

/** Variables: defaults, null, absent. */
const WITH_VARIABLES: [string, string, Record<string, unknown>][] = [
  ['defaults', `query($id: ID!, $n: Int = 2, $types: [FileType!] = [IMAGE, AUDIO], $status: ContributionStatus = PENDING) { chest(id: $id) { assets(first: $n, types: $types) { totalCount edges { node { id fileType } } } contributions(first: $n, status: $status) { edges { node { id status } } } } }`, {}],
  ['overridden', `query($id: ID!, $n: Int = 2, $types: [FileType!] = [IMAGE]) { chest(id: $id) { assets(first: $n, types: $types) { totalCount edges { node { id fileType } } } } }`, { n: 5, types: ['DOCUMENT'] }],
  ['nullVariable', `query($id: ID!, $n: Int = 2, $after: String) { chest(id: $id) { assets(first: $n, after: $after) { edges { node { id } } } } }`, { n: null, after: null }],
  ['absentVariable', `query($id: ID!, $n: Int, $after: String) { chest(id: $id) { stories(first: $n, after: $after) { edges { node { id title } } } } }`, {}],
  ['listCoercion', `query($id: ID!, $types: [FileType!]) { chest(id: $id) { assets(first: 5, types: $types) { edges { node { id fileType } } } } }`, { types: 'VIDEO' }],
];

describe.each(BACKENDS)('compiled chest read, reviewed (%s): graphql-js answers, byte for byte', (backend) => {
  let db: TestDatabase;
  let pair: RunnerPair;
  let compiled: Runner;
  let executed: Runner;
  let readers: Record<string, RunOptions>;
  let chests: Record<string, string>;
  let binnedChestId: string;
  let oddChestId: string;
  let emptyChestId: string;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    pair = await runnerPair(db);
    ({ compiled, executed } = pair);
    const em = db.orm.em.fork();
    const { owner, editor, viewer, stranger } = await makeCast(em);
    const ownerRef = em.getReference(Account, owner.account.id);
    const open = await makeChest(em, { isPublic: true, personName: 'Ada Example', description: 'Rose Hidden was her sister', birthDate: '1920-03-04', allowContributions: true }, ownerRef);
    const closed = await makeChest(em, { personName: 'Private Person', passingDate: '2001-02-03' }, ownerRef);
    for (const chest of [open, closed]) {
      await addMember(em, chest, em.getReference(Account, editor.account.id), ChestRole.EDITOR);
      await addMember(em, chest, em.getReference(Account, viewer.account.id), ChestRole.VIEWER);
    }
    for (const chest of [open, closed]) {
      const assets = await makeAssets(em, chest, 8, (i) => ({
        fileType: [FileType.IMAGE, FileType.AUDIO, FileType.DOCUMENT, FileType.VIDEO][i % 4]!,
        mimeType: ['image/jpeg', 'audio/mp4', 'application/pdf', 'video/mp4'][i % 4]!,
        filename: `Home at 12 Elm Street ${i}.jpg`,
        status: [ProcessingStatus.COMPLETE, ProcessingStatus.PENDING, ProcessingStatus.FAILED][i % 3]!,
        processingError: i % 3 === 2 ? 'It could not be read' : null,
        processedAt: i % 2 ? new Date(Date.UTC(2024, 0, 1, 12, 0, 0, 123)) : null,
        // Beyond 32 bits: a bigint column, text from the driver and a number from json_agg.
        size: 5_000_000_000 + i,
        location: i % 2 ? { latitude: 51.5 + i / 1000, longitude: -0.1, altitude: i === 1 ? null : 12.25, placeName: 'Home' } : null,
        place: i % 2 ? 'Whitby' : null,
        caption: `Memory ${i} “quoted” \\ and \u00e9`,
        dateTaken: i === 2 ? new Date(Date.UTC(1890, 5, 1)) : i % 3 === 0 ? null : new Date(Date.UTC(1980 + (i % 5), 5, 1, 0, 0, 0, 7)),
        width: i % 4 === 0 ? 640 : null,
        height: i % 4 === 0 ? 480 : null,
        durationSeconds: i % 4 === 1 ? 12.345678901234567 : null,
        waveform: i % 4 === 1 ? [0, 0.5, 1, 0.30000000000000004] : null,
        perceptualHash: i % 4 === 0 ? 'abc' : null,
        mediaInfo: { camera: 'Pentax K1', bitRate: 128000, lossless: i % 2 === 0, codec: null, ratio: 1.5 } as never,
        placeholder: `placeholder-${i}`,
        extractedText: i % 4 === 2 ? 'Dear Rose Hidden' : null,
        transcription: i % 4 === 1 ? ({ text: 'Rose Hidden said hello', language: 'en', segments: [], rough: false, confidence: 0.875 } as never) : null,
        analyses: [{ task: 'describeImage', status: 'DONE', provider: 'fake', model: 'm1', error: null, at: '2024-01-01T00:00:00.000Z' }] as never,
        tags: [
          { name: 'garden', source: TagSource.USER, confidence: 1 },
          { name: 'dog', source: TagSource.AI, confidence: 0.1 + 0.2 },
        ] as never,
        thumbnails: ['256', '1024'].map((name) => ({ name, width: Number(name), height: Number(name), mimeType: 'image/webp', storageKey: `chests/${chest.id}/derivatives/${i}/${name}.webp` })),
      }));
      // A person the family hid, on the first photo: no thumbnails, placeholder or original outside the family.
      const hidden = await makePerson(em, chest, { name: 'Rose Hidden', hidden: true });
      await makeFace(em, assets[0]!, hidden);
      const shown = await makePerson(em, chest, { name: 'Tom Shown' });
      await makeFace(em, assets[4]!, shown);
      const binned = await makeAsset(em, chest, { deletedAt: new Date(), filename: 'binned.jpg' });
      const pending = await makeContribution(em, chest, { contributorName: 'A neighbour', message: 'From Rose Hidden', relationship: 'neighbour' });
      const pendingAsset = await makeAsset(em, chest, { contribution: pending, filename: 'pending at 3 Oak Road.jpg', status: ProcessingStatus.COMPLETE });
      const approved = await makeContribution(em, chest, { contributorName: 'A cousin', status: ContributionStatus.APPROVED, reviewedAt: new Date() });
      await makeAsset(em, chest, { contribution: approved, approvedAt: new Date(), filename: 'approved.jpg', status: ProcessingStatus.COMPLETE });
      await makeContribution(em, chest, { contributorName: 'A stranger', status: ContributionStatus.REJECTED, rejectionReason: 'Not her', reviewedAt: new Date() });
      const published = await makeStory(em, chest, {
        title: 'Rose Hidden and Ada in the garden',
        content: 'Rose Hidden laughed.\n\nAda did too.',
        status: StoryStatus.READY,
        published: true,
        paragraphs: [{ text: 'Rose Hidden laughed.', assetIds: [binned.id, assets[0]!.id] }, { text: 'Ada did too.', assetIds: [] }] as never,
        timeline: [{ date: '1962', title: 'Rose met Ada', description: null, assetIds: [assets[1]!.id] }] as never,
        themes: [{ name: 'Rose Hidden', description: 'Her sister Rose', assetIds: [pendingAsset.id] }] as never,
        generation: { provider: 'fake', model: 'm1', generatedAt: '2024-02-03T04:05:06.789Z', durationMs: 1234, droppedClaims: null } as never,
      });
      await makeStory(em, chest, { title: 'A draft about Rose Hidden', status: StoryStatus.READY });
      await makeStory(em, chest, { title: 'Failed', status: StoryStatus.FAILED, error: 'The writer gave up' });
      chest.publishedStory = published;
      // open: the hero is a photo of a hidden person; closed: a memory still waiting in a contribution.
      chest.heroImage = chest === open ? assets[0]! : pendingAsset;
      await em.flush();
    }
    // Some rows' timestamps with microseconds (set by SQL, as now() would): driver text and json_agg's ISO text.
    await em.getConnection().execute(`update asset set created_at = created_at + interval '0.000321 seconds' where chest_id = ? and file_type = 'AUDIO'`, [open.id]);
    const inBin = await makeChest(em, { personName: 'Binned chest', isPublic: true, deletedAt: new Date() }, ownerRef);
    await makeAssets(em, inBin, 2);
    binnedChestId = inBin.id;
    // A recording whose duration the probe could not read: NaN in a double precision column, which
    // graphql-js cannot serialise as a Float (a field error), and json_agg writes as the string "NaN".
    const odd = await makeChest(em, { personName: 'Odd data', isPublic: true }, ownerRef);
    const [recording] = await makeAssets(em, odd, 3, (i) => ({ fileType: i === 0 ? FileType.AUDIO : FileType.IMAGE, mimeType: i === 0 ? 'audio/mp4' : 'image/jpeg' }));
    await em.getConnection().execute(`update asset set duration_seconds = 'NaN'::float8 where id = ?`, [recording!.id]);
    oddChestId = odd.id;
    // A story edited by hand into paragraphs without citations (assetIds absent: a non-null field graphql-js reports).
    await makeStory(em, odd, { title: 'Hand-written', status: StoryStatus.READY, published: true, paragraphs: [{ text: 'No citations' }] as never });
    const empty = await makeChest(em, { personName: 'Nothing yet', isPublic: true }, ownerRef);
    emptyChestId = empty.id;
    // Stories and contributions with microseconds in created_at too (their cursors carry milliseconds).
    await em.getConnection().execute(`update story set created_at = created_at + interval '0.000654 seconds' where chest_id = ?`, [open.id]);
    await em.getConnection().execute(`update contribution set created_at = created_at + interval '0.000987 seconds' where chest_id = ?`, [open.id]);
    chests = { open: open.id, closed: closed.id };
    const link = (chestId: string, allowOriginals: boolean) =>
      compiled.run<{ createShareLink: { token: string } }>(`mutation($id: ID!, $o: Boolean) { createShareLink(chestId: $id, allowOriginals: $o) { token } }`, { id: chestId, o: allowOriginals }, { token: owner.token });
    const openLink = ok(await link(open.id, true)).createShareLink.token;
    const closedLink = ok(await link(closed.id, false)).createShareLink.token;
    readers = {
      owner: { token: owner.token },
      editor: { token: editor.token },
      viewer: { token: viewer.token },
      stranger: { token: stranger.token },
      anonymous: {},
      shareWithOriginals: { shareToken: openLink },
      shareWithoutOriginals: { shareToken: closedLink },
      // Signed in and holding a link: the role decides for members, the link for others.
      strangerWithLink: { token: stranger.token, shareToken: closedLink },
      viewerWithOriginalsLink: { token: viewer.token, shareToken: openLink },
    };
  });
  afterAll(async () => {
    await pair?.stop();
    await db?.close();
  });

  const both = (query: string, variables: Record<string, unknown>, as: RunOptions) => pair.both(query, variables, as);

  /** Every reader of both chests: the same JSON text; where graphql-js answers without errors, through the compiled read. */
  async function sameForEveryone(query: string, variables: Record<string, unknown> = {}) {
    let compiledAnswers = 0;
    for (const [chest, id] of Object.entries(chests)) {
      for (const [reader, as] of Object.entries(readers)) {
        const { fast, slow, compiledRan } = await both(query, { id, ...variables }, as);
        expect({ chest, reader, answer: normalised(fast) }).toEqual({ chest, reader, answer: normalised(slow) });
        if (compiledRan && !slow.errors) compiledAnswers++;
      }
    }
    return compiledAnswers;
  }

  for (const [name, query] of Object.entries(DOCUMENTS)) {
    it(`${name}: every reader of both chests gets graphql-js's JSON text`, async () => {
      const compiledAnswers = await sameForEveryone(query);
      // Owners at least are answered by the compiled read (not everything left to graphql-js).
      if (name !== 'heroImage' && name !== 'assetsEverything' && name !== 'membersThenAssets') expect(compiledAnswers).toBeGreaterThan(0);
    });
  }

  for (const [name, query, variables] of WITH_VARIABLES) {
    it(`variables (${name}): graphql-js's answer`, async () => {
      await sameForEveryone(query, variables);
    });
  }

  it('the compiled read answers the documents it plans (not all left to graphql-js)', async () => {
    for (const name of ['chestScalars', 'storiesEverything', 'contributionsEverything', 'onlyThumbnails', 'summaryEverything', 'aliasesEverywhere', 'keyOrder']) {
      const { fast, compiledRan } = await both(DOCUMENTS[name]!, { id: chests.open }, readers.owner!);
      expect({ name, errors: fast.errors, compiledRan }).toEqual({ name, errors: undefined, compiledRan: true });
    }
  });

  it('pages: first and after at their edges, for memories, stories and contributions', async () => {
    const pageOf = (list: string, extra = '') => `query($id: ID!, $first: Int, $after: String) { chest(id: $id) { ${list}(first: $first, after: $after${extra}) { pageInfo { hasNextPage endCursor } edges { cursor node { id } } } } }`;
    for (const list of ['assets', 'stories', 'contributions']) {
      for (const first of [1, 2, 100, 101, 0, -1, null]) {
        for (const [reader, as] of Object.entries({ owner: readers.owner!, anonymous: readers.anonymous!, share: readers.shareWithOriginals! })) {
          const { fast, slow } = await both(pageOf(list), { id: chests.open, first }, as);
          expect({ list, first, reader, answer: normalised(fast) }).toEqual({ list, first, reader, answer: normalised(slow) });
        }
      }
      // Walk every page one at a time: the same cursors, the same pages, the same end.
      let after: string | null = null;
      for (let page = 0; page < 30; page++) {
        const { fast, slow } = await both(pageOf(list), { id: chests.open, first: 1, after }, readers.owner!);
        expect({ list, page, answer: normalised(fast) }).toEqual({ list, page, answer: normalised(slow) });
        const info = ok(slow).chest[list].pageInfo;
        if (!info.hasNextPage) break;
        after = info.endCursor;
      }
      for (const after of ['', 'forged', Buffer.from('{"c":"2020-01-01T00:00:00Z","i":"not-a-uuid"}').toString('base64url')]) {
        const { fast, slow } = await both(pageOf(list), { id: chests.open, first: 2, after }, readers.owner!);
        expect({ list, after, answer: normalised(fast) }).toEqual({ list, after, answer: normalised(slow) });
      }
    }
  });

  it('a chest in the bin: NOT_FOUND for its owner and everyone else, as graphql-js says', async () => {
    for (const [reader, as] of Object.entries(readers)) {
      const { fast, slow } = await both(`query($id: ID!) { chest(id: $id) { ${CHEST_SCALARS} assets { edges { node { id } } } } }`, { id: binnedChestId }, as);
      expect({ reader, answer: normalised(fast) }).toEqual({ reader, answer: normalised(slow) });
      expect(fast.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
  });

  it('privacy: outside the family no coordinates, original names, hidden faces, pending memories, drafts or hidden names', async () => {
    for (const [reader, as] of Object.entries({ stranger: readers.stranger!, anonymous: readers.anonymous! })) {
      const { fast } = await both(DOCUMENTS.assetsEverything!.replace('deletedBy { id } contributors { kind name } faces { id person { id name } }', ''), { id: chests.open }, as);
      const text = JSON.stringify(fast);
      expect({ reader, text: text.includes('Elm Street') || text.includes('Oak Road') || text.includes('Pentax') || text.includes('"latitude":5') }).toEqual({ reader, text: false });
      const stories = await both(DOCUMENTS.storiesEverything!, { id: chests.open }, as);
      expect(JSON.stringify(stories.fast).includes('Rose Hidden')).toBe(false);
      expect(JSON.stringify(stories.fast).includes('draft')).toBe(false);
      expect(stories.compiledRan).toBe(true);
    }
    const share = await both(DOCUMENTS.onlyFilename!, { id: chests.open }, readers.shareWithOriginals!);
    expect(share.compiledRan).toBe(true);
    expect(JSON.stringify(share.fast)).toContain('Elm Street');
    const plain = await both(DOCUMENTS.onlyFilename!, { id: chests.closed }, readers.shareWithoutOriginals!);
    expect(plain.compiledRan).toBe(true);
    expect(JSON.stringify(plain.fast)).not.toContain('Elm Street');
  });

  it('a field graphql-js cannot serialise (NaN duration): the compiled read refuses, graphql-js answers with its error', async () => {
    for (const [reader, as] of Object.entries(readers)) {
      const { fast, slow } = await both(`query($id: ID!) { chest(id: $id) { summary { totalAssets } assets { edges { node { id durationSeconds } } } } }`, { id: oddChestId }, as);
      expect({ reader, answer: normalised(fast) }).toEqual({ reader, answer: normalised(slow) });
    }
  });

  it('variables graphql-js refuses, and documents it plans none of: the same answers', async () => {
    const cases: [string, Record<string, unknown>][] = [
      [`query($id: ID!, $n: Int) { chest(id: $id) { assets(first: $n) { edges { node { id } } } } }`, { n: 'three' }],
      [`query($id: ID!, $types: [FileType!]) { chest(id: $id) { assets(types: $types) { edges { node { id } } } } }`, { types: ['PAINTING'] }],
      [`query($id: ID!) { chest(id: $id) { assets(first: 2) { edges { node { id ... on Asset { filename } } } } } }`, {}],
      [`query($id: ID!, $yes: Boolean = true) { chest(id: $id) { assets(first: 2) { edges { node { id filename @include(if: $yes) } } } } }`, {}],
      [`query A($id: ID!) { chest(id: $id) { id } } query B($id: ID!) { chest(id: $id) { personName summary { totalAssets } } }`, {}],
    ];
    for (const [query, variables] of cases) {
      for (const [reader, as] of Object.entries({ owner: readers.owner!, anonymous: readers.anonymous! })) {
        const { fast, slow } = await both(query, { id: chests.open, ...variables }, as);
        expect({ query, reader, answer: normalised(fast) }).toEqual({ query, reader, answer: normalised(slow) });
      }
    }
  });

  it("odd and empty chests: every document, every reader, graphql-js's answer", async () => {
    for (const id of [oddChestId, emptyChestId]) {
      for (const [name, query] of Object.entries(DOCUMENTS)) {
        for (const [reader, as] of Object.entries(readers)) {
          const { fast, slow } = await both(query, { id }, as);
          expect({ name, reader, answer: normalised(fast) }).toEqual({ name, reader, answer: normalised(slow) });
        }
      }
    }
  });

  it('graphql-js alone, on the same document and data: no unhandled rejection (the control for the case below)', async () => {
    const rejections = await unhandledRejectionsDuring(async () => {
      for (const as of [readers.stranger!, readers.anonymous!, readers.shareWithOriginals!]) {
        const slow = await executed.run(DOCUMENTS.membersThenAssets!, { id: oddChestId }, as);
        expect(slow.errors?.length).toBeGreaterThan(0);
      }
    });
    expect(rejections).toEqual([]);
  });

  // Found in review (complete.ts at 1a8f8a0): completeObject starts every field before any is
  // awaited; when a later field refuses synchronously (here Float.serialize of a NaN duration; also
  // a non-null field that is null, or a non-array list), the promises of the fields already
  // started (members, which rejects for a non-member) were dropped without a handler, and Node 24
  // ends the process on an unhandled rejection. complete.ts's abandon() now handles them.
  it('members then a refused memory: no promise of the abandoned compiled read rejects unhandled', async () => {
    const rejections = await unhandledRejectionsDuring(async () => {
      for (const [reader, as] of Object.entries({ stranger: readers.stranger!, anonymous: readers.anonymous!, share: readers.shareWithOriginals! })) {
        const { fast, slow } = await both(DOCUMENTS.membersThenAssets!, { id: oddChestId }, as);
        // The answer itself is graphql-js's: what was wrong was the dropped rejection.
        expect({ reader, answer: normalised(fast) }).toEqual({ reader, answer: normalised(slow) });
      }
    });
    expect(rejections.map((r) => (r instanceof Error ? `${r.constructor.name}: ${r.message}` : String(r)))).toEqual([]);
  });
});

/**
 * Postgres writes timestamps in the session's time zone. Outside UTC, old dates carry local mean
 * time offsets with seconds (Europe/Amsterdam before 1937: +00:19:32): the driver's text goes
 * through postgres-date, json_agg's ISO text through new Date (PostgreSqlPlatform.parseDate).
 */
describe('compiled chest read, reviewed (postgres, a server in Europe/Amsterdam): old dates', () => {
  let db: TestDatabase;
  let orm: Awaited<ReturnType<typeof openOrm>>;
  let compiled: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let executed: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let owner: RunOptions;
  let chestId: string;
  const queries: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const name = new URL(db.url).pathname.slice(1);
    await db.orm.em.fork().getConnection().execute(`alter database "${name}" set timezone to 'Europe/Amsterdam'`);
    // New connections take the database's time zone.
    orm = await openOrm({ clientUrl: db.url, poolMax: 2, onQuery: (sql) => queries.push(sql) });
    const storage = await createStorage({ kind: 'filesystem', root: await mkdtemp(join(tmpdir(), 'dmc-compiled-tz-')) });
    compiled = await createGraphQLRunner(orm, { storage });
    executed = await createGraphQLRunner(orm, { storage, compiled: false });
    const em = orm.em.fork();
    const account = await makeAccount(em);
    const chest = await makeChest(em, { isPublic: true }, em.getReference(Account, account.account.id));
    await makeAssets(em, chest, 3, (i) => ({ dateTaken: [new Date(Date.UTC(1920, 5, 1, 12)), new Date(Date.UTC(1990, 5, 1, 12)), null][i]! }));
    chestId = chest.id;
    owner = { token: account.token };
    const [setting] = await em.getConnection().execute<{ tz: string }[]>(`select current_setting('TimeZone') as tz`);
    expect(setting?.tz).toBe('Europe/Amsterdam');
  });
  afterAll(async () => {
    await compiled?.stop();
    await executed?.stop();
    await orm?.close(true);
    await db?.close();
  });

  it("a memory dated 1920: graphql-js's answer", async () => {
    for (const query of [
      `query($id: ID!) { chest(id: $id) { summary { totalAssets } assets { edges { node { id dateTaken } } } } }`,
      `query($id: ID!) { chest(id: $id) { assets(first: 1) { pageInfo { endCursor } edges { cursor node { id } } } } }`,
      `query($id: ID!) { chest(id: $id) { assets(first: 3) { edges { node { id createdAt } } } } }`,
      // The page ends on the memory of 1920: its cursor is made from its dateTaken.
      `query($id: ID!) { chest(id: $id) { assets(first: 2) { pageInfo { endCursor } edges { cursor node { id } } } } }`,
    ]) {
      for (const as of [owner, {}]) {
        queries.length = 0;
        const fast = await compiled.run(query, { id: chestId }, as);
        const slow = await executed.run(query, { id: chestId }, as);
        expect(normalised(fast)).toEqual(normalised(slow));
        expect(slow.errors).toBeUndefined();
        expect(queries.some(isCompiledStatement)).toBe(true);
      }
    }
  });
});

