import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest } from '../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus } from '../src/db/enums.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution } from './support/factories.js';
import { createGraphQLRunner } from './support/graphql.js';
import { makeFace, makePerson } from './support/people.js';

/**
 * Chest.timeline: the memories Chest.assets shows the caller, bucketed by the year (or decade)
 * they were taken, with counts per kind, a cover photo, and undated ones apart; one statement for
 * all the chests of a request.
 */

const COUNTS = 'photos videos recordings documents total';
const TIMELINE = `query($id: ID!, $g: TimelineGranularity!) { chest(id: $id) { timeline(granularity: $g) {
  granularity buckets { startYear endYear ${COUNTS} cover { id fileType } } undated { ${COUNTS} } } } }`;

describe.each(BACKENDS)('Chest.timeline on %s', (backend) => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let chest: Chest;
  let owner: string;
  const ids: Record<string, string> = {};
  const em = () => db.orm.em.fork();
  const at = (iso: string) => new Date(iso);

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    gql = await createGraphQLRunner(db.orm);
    const e = em();
    const o = await makeAccount(e);
    owner = o.token;
    chest = await makeChest(e, { personName: 'Rose Ellis' }, o.account);
    const done = { status: ProcessingStatus.COMPLETE };
    // 1975: two photos (the older shows a hidden person), a recording. 1978: a video. 1983: a document and a photo still processing.
    const hiddenPhoto = await makeAsset(e, chest, { ...done, dateTaken: at('1975-02-01T00:00:00Z') });
    const photo1975 = await makeAsset(e, chest, { ...done, dateTaken: at('1975-08-01T00:00:00Z') });
    await makeAsset(e, chest, { ...done, fileType: FileType.AUDIO, mimeType: 'audio/mp4', dateTaken: at('1975-12-31T23:59:59Z') });
    await makeAsset(e, chest, { ...done, fileType: FileType.VIDEO, mimeType: 'video/mp4', dateTaken: at('1978-06-01T00:00:00Z') });
    await makeAsset(e, chest, { ...done, fileType: FileType.DOCUMENT, mimeType: 'application/pdf', dateTaken: at('1983-03-01T00:00:00Z') });
    await makeAsset(e, chest, { status: ProcessingStatus.PROCESSING, dateTaken: at('1983-04-01T00:00:00Z') });
    // Undated: a photo and a document.
    await makeAsset(e, chest, done);
    await makeAsset(e, chest, { ...done, fileType: FileType.DOCUMENT, mimeType: 'application/pdf' });
    // Never counted: binned, and a pending contribution's; an approved one's is.
    await makeAsset(e, chest, { ...done, dateTaken: at('1960-01-01T00:00:00Z'), deletedAt: new Date() });
    await makeAsset(e, chest, { ...done, dateTaken: at('1961-01-01T00:00:00Z'), contribution: await makeContribution(e, chest) });
    const approved = await makeAsset(e, chest, { ...done, dateTaken: at('1979-01-01T00:00:00Z'), contribution: await makeContribution(e, chest, { status: ContributionStatus.APPROVED }) });
    await makeFace(e, hiddenPhoto, await makePerson(e, chest, { name: 'Tom', hidden: true }));
    Object.assign(ids, { hiddenPhoto: hiddenPhoto.id, photo1975: photo1975.id, approved: approved.id });
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  const timeline = async (g: 'YEAR' | 'DECADE', as: object = { token: owner }, id = chest.id) => {
    const res = await gql.run<{ chest: { timeline: any } }>(TIMELINE, { id, g }, as);
    expect(res.errors).toBeUndefined();
    return res.data!.chest.timeline;
  };
  const counts = (photos: number, videos: number, recordings: number, documents: number) => ({ photos, videos, recordings, documents, total: photos + videos + recordings + documents });

  it('buckets by year: counts per kind, a cover photo preferring one that shows nobody hidden, undated apart', async () => {
    const t = await timeline('YEAR');
    expect(t.granularity).toBe('YEAR');
    expect(t.buckets).toEqual([
      { startYear: 1975, endYear: 1975, ...counts(2, 0, 1, 0), cover: { id: ids.photo1975, fileType: 'IMAGE' } },
      { startYear: 1978, endYear: 1978, ...counts(0, 1, 0, 0), cover: null },
      { startYear: 1979, endYear: 1979, ...counts(1, 0, 0, 0), cover: { id: ids.approved, fileType: 'IMAGE' } },
      // A photo still processing is counted but is no cover.
      { startYear: 1983, endYear: 1983, ...counts(1, 0, 0, 1), cover: null },
    ]);
    expect(t.undated).toEqual(counts(1, 0, 0, 1));
  });

  it('buckets by decade, and YEAR is the default', async () => {
    const t = await timeline('DECADE');
    expect(t.buckets).toEqual([
      { startYear: 1970, endYear: 1979, ...counts(3, 1, 1, 0), cover: { id: ids.photo1975, fileType: 'IMAGE' } },
      { startYear: 1980, endYear: 1989, ...counts(1, 0, 0, 1), cover: null },
    ]);
    const res = await gql.run<{ chest: { timeline: { granularity: string } } }>(`query($id: ID!) { chest(id: $id) { timeline { granularity } } }`, { id: chest.id }, { token: owner });
    expect(res.data!.chest.timeline.granularity).toBe('YEAR');
  });

  it('follows what the caller may read: a stranger gets NOT_FOUND, a view link the same buckets', async () => {
    const e = em();
    const stranger = await makeAccount(e);
    const denied = await gql.run(TIMELINE, { id: chest.id, g: 'YEAR' }, { token: stranger.token });
    expect(denied.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    const share = await gql.run<{ createShareLink: { token: string } }>(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chest.id }, { token: owner });
    expect(await timeline('YEAR', { shareToken: share.data!.createShareLink.token })).toEqual(await timeline('YEAR'));
  });

  it('one statement for the timelines of every chest in a request', async () => {
    const e = em();
    const reader = await makeAccount(e);
    const chests: Chest[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await makeChest(e, { personName: `Person ${i}` });
      await addMember(e, c, reader.account, ChestRole.VIEWER);
      for (let j = 0; j <= i; j++) await makeAsset(e, c, { status: ProcessingStatus.COMPLETE, dateTaken: at(`${1990 + j}-01-01T00:00:00Z`) });
      chests.push(c);
    }
    const statements = async (first: number) => {
      db.queries.length = 0;
      const res = await gql.run<{ chests: { edges: { node: { timeline: { buckets: { total: number }[] } } }[] } }>(
        `query($first: Int) { chests(first: $first) { edges { node { timeline(granularity: DECADE) { buckets { startYear total cover { id } } } } } } }`,
        { first },
        { token: reader.token },
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.chests.edges).toHaveLength(first);
      return db.queries.length;
    };
    expect(await statements(4)).toBe(await statements(1));
  });
});
