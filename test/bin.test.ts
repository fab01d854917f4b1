import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Account, Asset, Chest, Contribution, Face, Person } from '../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, StoryStatus } from '../src/db/enums.js';
import { processAsset, type ProcessingDeps } from '../src/domain/processing/processing.service.js';
import { derivativePrefix } from '../src/domain/processing/derivatives.js';
import { buildStoryContext } from '../src/domain/story/story-context.js';
import { sweep } from '../src/domain/upload/sweeper.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { type Backend, createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeChest, makeContribution, makeStory } from './support/factories.js';
import { createGraphQLRunner, failure, ok } from './support/graphql.js';
import { jpeg } from './support/media.js';
import { filesServer, makeFace, makePerson } from './support/people.js';
import { startStorageEnv, type StorageEnv } from './support/storage.js';

/**
 * The bin and moderation one memory at a time, end to end below HTTP: real photos stored and
 * processed by the real pipeline (thumbnails in storage), the GraphQL schema as clients call it,
 * and storage inspected directly to prove that purged bytes are gone and stay gone (after a sweep,
 * and after a late processing job). On Postgres with the filesystem and with S3 (s3rver), and on
 * PGlite with the in-memory storage.
 */
const CASES: { db: Backend; storage: 'filesystem' | 's3' | 'memory' }[] = [
  { db: 'postgres', storage: 'filesystem' },
  { db: 'postgres', storage: 's3' },
  { db: 'pglite', storage: 'memory' },
];

const ASSETS = `query($c: ID!) { chest(id: $c) { assets { totalCount edges { node { id } } } summary { totalAssets recentAssets { id } } } }`;
const ASSET = `query($id: ID!) { asset(id: $id) { id deletedAt thumbnails { url } } }`;
const BIN = `query($c: ID!) { chest(id: $c) { bin { edges { node { id deletedAt deletedBy { id } } } } } }`;
const DELETE = `mutation($id: ID!) { deleteMemory(assetId: $id) { id deletedAt } }`;
const RESTORE = `mutation($id: ID!) { restoreMemory(assetId: $id) { id deletedAt status } }`;
const PURGE = `mutation($id: ID!) { purgeMemory(assetId: $id) }`;
const EMPTY = `mutation($c: ID!) { emptyBin(chestId: $c) }`;
const STORY = `query($c: ID!) { chest(id: $c) { publishedStory { paragraphs { text assetIds removedAssetIds } timeline { assetIds removedAssetIds } themes { assetIds removedAssetIds } } } }`;
const CONTRIBUTION_ASSETS = `query($c: ID!) { chest(id: $c) { contributions { edges { node { id assets { edges { node { id approvedAt thumbnails { name url } } } } } } } } }`;
const APPROVE_ONE = `mutation($id: ID!) { approveContributionMemory(assetId: $id) { id approvedAt } }`;
const REJECT_ONE = `mutation($id: ID!) { rejectContributionMemory(assetId: $id) { id status } }`;
const APPROVE = `mutation($id: ID!) { approveContribution(id: $id) { status } }`;
const EVENTS = `query($c: ID!) { chestEvents(chestId: $c) { events { kind asset { id } removedAssetId } } }`;

describe.each(CASES)('the bin and moderation on $db with $storage storage', ({ db: backend, storage: storageName }) => {
  let db: TestDatabase;
  let storage: StorageBackend;
  let s3: StorageEnv | undefined;
  let dataDir: string;
  let queue: JobQueue;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let deps: ProcessingDeps;
  const events = new InProcessEventBus();
  let owner: { account: Account; token: string };
  let editor: { account: Account; token: string };
  let viewer: { account: Account; token: string };
  let colour = 0;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-bin-'));
    if (storageName === 's3') {
      s3 = await startStorageEnv('s3');
      storage = await createStorage(loadConfig(s3.env).storage);
    } else {
      storage = await createStorage(storageName === 'memory' ? { kind: 'memory' } : loadConfig({ DATA_DIR: dataDir }).storage);
    }
    const log = pino({ level: 'silent' });
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log });
    gql = await createGraphQLRunner(db.orm, { storage, events, queue });
    deps = { orm: db.orm, storage, events, log };
    const em = db.orm.em.fork();
    [owner, editor, viewer] = [await makeAccount(em), await makeAccount(em), await makeAccount(em)];
  }, 120_000);
  afterAll(async () => {
    await gql?.stop();
    await queue?.stop();
    await events.close();
    await db?.close();
    await s3?.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  const as = (who: { token: string } | null) => (who ? { token: who.token } : {});

  async function freshChest(over: Partial<Chest> = {}): Promise<Chest> {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, { personName: 'Rose Ellis', allowContributions: true, ...over }, em.getReference(Account, owner.account.id));
    await addMember(em, chest, em.getReference(Account, editor.account.id), ChestRole.EDITOR);
    await addMember(em, chest, em.getReference(Account, viewer.account.id), ChestRole.VIEWER);
    return chest;
  }

  /** A real photo, stored as a finished upload stores it (by a member, or with a contribution), then processed; distinct bytes each time. */
  async function photo(chest: Chest, by: { addedBy?: Account; contribution?: Contribution; process?: boolean }): Promise<string> {
    const bytes = await jpeg(640, 480, `#${(++colour * 40503).toString(16).padStart(6, '0').slice(-6)}`);
    const em = db.orm.em.fork();
    const id = randomUUID();
    const key = `chests/${chest.id}/originals/${id}`;
    await storage.put(key, Readable.from([bytes]), { size: bytes.length });
    em.create(Asset, {
      id,
      chest: chest.id,
      contribution: by.contribution?.id ?? null,
      addedBy: by.addedBy?.id ?? null,
      filename: `garden-${id.slice(0, 4)}.jpg`,
      storageKey: key,
      fileType: FileType.IMAGE,
      size: bytes.length,
      mimeType: 'image/jpeg',
      sha256: randomUUID().replace(/-/g, '').padEnd(64, '0'),
    } as never);
    await em.flush();
    if (by.process !== false) await processAsset(deps, { id: `job-${id}`, data: { assetId: id }, attempt: 1, signal: new AbortController().signal });
    return id;
  }

  /** Every storage object of a memory: its original and whatever lies under its derivatives prefix. */
  async function objectsOf(chestId: string, assetId: string): Promise<string[]> {
    const keys: string[] = [];
    if (await storage.stat(`chests/${chestId}/originals/${assetId}`)) keys.push(`chests/${chestId}/originals/${assetId}`);
    for await (const o of storage.list(derivativePrefix({ id: assetId, chest: { id: chestId } }))) keys.push(o.key);
    return keys.sort();
  }

  const ids = (conn: { edges: { node: { id: string } }[] }) => conn.edges.map((e) => e.node.id).sort();

  it('a binned memory leaves lists, counts, the summary, asset(id), downloads and new stories at once; owners find it in the bin; its adder restores it', async () => {
    const chest = await freshChest();
    const mine = await photo(chest, { addedBy: editor.account });
    const theirs = await photo(chest, { addedBy: owner.account });
    const CAN = `query($a: ID!, $b: ID!) { a: asset(id: $a) { canDelete } b: asset(id: $b) { canDelete } }`;
    expect(ok(await gql.run(CAN, { a: mine, b: theirs }, as(editor)))).toEqual({ a: { canDelete: true }, b: { canDelete: false } });
    expect(ok(await gql.run(CAN, { a: mine, b: theirs }, as(viewer)))).toEqual({ a: { canDelete: false }, b: { canDelete: false } });
    const before = ok(await gql.run(ASSET, { id: mine }, as(viewer))).asset;
    expect(before.thumbnails.length).toBeGreaterThan(0);
    expect(ok(await gql.run(ASSETS, { c: chest.id }, as(viewer))).chest.assets.totalCount).toBe(2);

    expect(failure(await gql.run(DELETE, { id: mine }, as(viewer))).code).toBe('FORBIDDEN');
    expect(failure(await gql.run(DELETE, { id: theirs }, as(editor))).code, 'editors bin only what they added').toBe('FORBIDDEN');
    expect(failure(await gql.run(DELETE, { id: mine }, as(null))).code, 'a private chest: nothing to see').toBe('NOT_FOUND');
    const binned = ok(await gql.run(`mutation($id: ID!) { deleteMemory(assetId: $id) { id deletedAt thumbnails { url } } }`, { id: mine }, as(editor))).deleteMemory;
    expect(binned.deletedAt).toEqual(expect.any(String));
    expect(binned.thumbnails, 'the editor is handed it back, but no link into the bin: that is for owners').toEqual([]);
    expect(failure(await gql.run(DELETE, { id: mine }, as(editor))).code).toBe('ALREADY_IN_BIN');

    const after = ok(await gql.run(ASSETS, { c: chest.id }, as(viewer))).chest;
    expect(after.assets.totalCount).toBe(1);
    expect(ids(after.assets)).toEqual([theirs]);
    expect(after.summary).toEqual({ totalAssets: 1, recentAssets: [{ id: theirs }] });
    expect(failure(await gql.run(ASSET, { id: mine }, as(viewer))).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(ASSET, { id: mine }, as(editor))).code).toBe('NOT_FOUND');
    const log = ok(await gql.run(EVENTS, { c: chest.id }, as(viewer))).chestEvents.events;
    expect(log.filter((e: any) => e.asset?.id === mine), 'its earlier events are no longer shown').toEqual([]);
    expect(log.filter((e: any) => e.kind === 'MEMORY_REMOVED'), 'readers learn it left, by id only').toEqual([{ kind: 'MEMORY_REMOVED', asset: null, removedAssetId: mine }]);
    const forOwner = ok(await gql.run(ASSET, { id: mine }, as(owner))).asset;
    expect(forOwner.deletedAt).toBe(binned.deletedAt);
    const fromBin = forOwner.thumbnails[0].url as string;
    expect(fromBin, 'owners look at it through links that open only from the bin').toMatch(new RegExp(`^/files/bin/${mine}/`));
    const bin = ok(await gql.run(BIN, { c: chest.id }, as(owner))).chest.bin;
    expect(bin.edges).toEqual([{ node: { id: mine, deletedAt: binned.deletedAt, deletedBy: { id: editor.account.id } } }]);
    expect(failure(await gql.run(BIN, { c: chest.id }, as(editor))).code).toBe('FORBIDDEN');

    const context = await buildStoryContext(db.orm.em.fork(), await db.orm.em.fork().findOneOrFail(Chest, chest.id));
    expect(context.memories.map((m) => m.id), 'new stories are written without it').toEqual([theirs]);

    // A thumbnail link handed out before the memory was binned stops working (files served by the API; S3 links go to the bucket and lapse in 5 minutes).
    const link = before.thumbnails[0].url as string;
    const files = await filesServer(db.orm, storage);
    try {
      if (link.startsWith('/files/')) expect((await files.get(link)).status).toBe(404);
      expect(await files.get(fromBin)).toMatchObject({ status: 200, type: 'image/webp' });
      expect(ok(await gql.run(RESTORE, { id: mine }, as(editor))).restoreMemory).toMatchObject({ id: mine, deletedAt: null, status: 'COMPLETE' });
      expect((await files.get(fromBin)).status, 'a bin link stops once the memory is back').toBe(404);
    } finally {
      await files.close();
    }

    expect(failure(await gql.run(RESTORE, { id: mine }, as(editor))).code).toBe('NOT_IN_BIN');
    expect(ok(await gql.run(ASSETS, { c: chest.id }, as(viewer))).chest.assets.totalCount).toBe(2);
    expect(ok(await gql.run(BIN, { c: chest.id }, as(owner))).chest.bin.edges).toEqual([]);
    const restored = ok(await gql.run(EVENTS, { c: chest.id }, as(viewer))).chestEvents.events.filter((e: any) => e.kind === 'MEMORY_ADDED');
    expect(restored.map((e: any) => e.asset.id), 'live clients hear it come back').toContain(mine);
  });

  it('purging erases rows and bytes (original, thumbnails, face crops), faces and people with no face left; the sweep and a late job never bring it back', async () => {
    const chest = await freshChest();
    const gone = await photo(chest, { addedBy: owner.account });
    const stays = await photo(chest, { addedBy: owner.account });
    const em = db.orm.em.fork();
    const [goneAsset, staysAsset] = [await em.findOneOrFail(Asset, gone, { populate: ['chest'] }), await em.findOneOrFail(Asset, stays, { populate: ['chest'] })];
    const onlyThere = await makePerson(em, goneAsset.chest, { name: 'Only in the purged photo' });
    const hidden = await makePerson(em, goneAsset.chest, { hidden: true });
    const inBoth = await makePerson(em, goneAsset.chest, { name: 'In both' });
    await makeFace(em, goneAsset, onlyThere, { storage });
    await makeFace(em, goneAsset, inBoth, { storage });
    await makeFace(em, goneAsset, hidden);
    const kept = await makeFace(em, staysAsset, inBoth, { storage, box: { x: 0.1, y: 0.1, width: 0.2, height: 0.2 } });
    const objects = await objectsOf(chest.id, gone);
    expect(objects.length, 'original, two thumbnails, two face crops').toBeGreaterThanOrEqual(5);

    expect(failure(await gql.run(PURGE, { id: gone }, as(owner))).code, 'only what is in the bin').toBe('NOT_IN_BIN');
    ok(await gql.run(DELETE, { id: gone }, as(owner)));
    expect(failure(await gql.run(PURGE, { id: gone }, as(editor))).code, 'editors cannot see what others binned').toBe('NOT_FOUND');
    expect(ok(await gql.run(PURGE, { id: gone }, as(owner))).purgeMemory).toBe(true);

    const check = db.orm.em.fork();
    expect(await check.count(Asset, { id: gone })).toBe(0);
    expect(await check.count(Face, { asset: gone })).toBe(0);
    expect(await check.count(Person, { id: onlyThere.id }), 'a person is a group of faces: none left, none kept').toBe(0);
    expect(await check.count(Person, { id: hidden.id }), 'but a wish to be hidden outlives the photo').toBe(1);
    expect((await check.findOneOrFail(Person, inBoth.id)).coverFaceId, 'the cover moves to a face that is left').toBe(kept.id);
    expect(await objectsOf(chest.id, gone), 'every byte of it is gone').toEqual([]);
    expect((await objectsOf(chest.id, stays)).length, 'the other memory keeps its bytes').toBeGreaterThanOrEqual(3);
    expect(failure(await gql.run(PURGE, { id: gone }, as(owner))).code).toBe('NOT_FOUND');

    const report = await sweep(db.orm.em.fork(), storage, { graceMs: 0 });
    expect(report.missingObjects.map((m) => m.assetId)).not.toContain(gone);
    // A job still queued for it finds nothing and stops: no row, no bytes, no event.
    await processAsset(deps, { id: `late-${gone}`, data: { assetId: gone }, attempt: 1, signal: new AbortController().signal });
    expect(await db.orm.em.fork().count(Asset, { id: gone })).toBe(0);
    expect(await objectsOf(chest.id, gone)).toEqual([]);
    expect(ok(await gql.run(ASSETS, { c: chest.id }, as(owner))).chest.assets.totalCount).toBe(1);
  });

  it('emptyBin erases every binned memory of the chest, files too, and nothing else', async () => {
    const chest = await freshChest();
    const [a, b, c] = [await photo(chest, { addedBy: editor.account }), await photo(chest, { addedBy: owner.account }), await photo(chest, { addedBy: owner.account })];
    ok(await gql.run(DELETE, { id: a }, as(editor)));
    ok(await gql.run(DELETE, { id: b }, as(owner)));
    expect(failure(await gql.run(EMPTY, { c: chest.id }, as(editor))).code).toBe('FORBIDDEN');
    expect(ok(await gql.run(EMPTY, { c: chest.id }, as(owner))).emptyBin).toBe(2);
    expect(await objectsOf(chest.id, a)).toEqual([]);
    expect(await objectsOf(chest.id, b)).toEqual([]);
    expect((await objectsOf(chest.id, c)).length).toBeGreaterThan(0);
    expect(ok(await gql.run(EMPTY, { c: chest.id }, as(owner))).emptyBin).toBe(0);
    await sweep(db.orm.em.fork(), storage, { graceMs: 0 });
    expect(await db.orm.em.fork().count(Asset, { chest: chest.id })).toBe(1);
  });

  it('a chest moved to the bin and restored keeps its memory bin as it was; while the chest is binned nobody bins, restores or erases its memories', async () => {
    const chest = await freshChest();
    const [binned, live] = [await photo(chest, { addedBy: owner.account }), await photo(chest, { addedBy: owner.account })];
    ok(await gql.run(DELETE, { id: binned }, as(owner)));
    ok(await gql.run(`mutation($id: ID!) { deleteChest(id: $id) { id } }`, { id: chest.id }, as(owner)));
    expect(failure(await gql.run(DELETE, { id: live }, as(owner))).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(RESTORE, { id: binned }, as(owner))).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(PURGE, { id: binned }, as(owner))).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(EMPTY, { c: chest.id }, as(owner))).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(ASSET, { id: binned }, as(owner))).code).toBe('NOT_FOUND');
    ok(await gql.run(`mutation($id: ID!) { restoreChest(id: $id) { id } }`, { id: chest.id }, as(owner)));
    const back = ok(await gql.run(ASSETS, { c: chest.id }, as(viewer))).chest;
    expect(ids(back.assets), 'the binned memory stays in the bin').toEqual([live]);
    expect(back.summary).toEqual({ totalAssets: 1, recentAssets: [{ id: live }] });
    expect(ok(await gql.run(BIN, { c: chest.id }, as(owner))).chest.bin.edges.map((e: any) => e.node.id)).toEqual([binned]);
    expect((await objectsOf(chest.id, binned)).length, 'nothing was erased').toBeGreaterThan(1);
    expect(ok(await gql.run(EMPTY, { c: chest.id }, as(owner))).emptyBin).toBe(1);
    expect(await objectsOf(chest.id, binned)).toEqual([]);
  });

  it('processing skips a memory binned before it ran, publishes nothing new for it, and runs again when it is restored (so does the AI step)', async () => {
    const chest = await freshChest();
    const early = await photo(chest, { addedBy: owner.account, process: false });
    ok(await gql.run(DELETE, { id: early }, as(owner)));
    await processAsset(deps, { id: `job-${early}`, data: { assetId: early }, attempt: 1, signal: new AbortController().signal });
    const row = await db.orm.em.fork().findOneOrFail(Asset, early);
    expect(row).toMatchObject({ status: ProcessingStatus.PENDING, thumbnails: [] });
    expect(await objectsOf(chest.id, early)).toEqual([`chests/${chest.id}/originals/${early}`]);
    expect(ok(await gql.run(EVENTS, { c: chest.id }, as(viewer))).chestEvents.events, 'nothing about it reaches readers but that it left').toEqual([
      { kind: 'MEMORY_REMOVED', asset: null, removedAssetId: early },
    ]);
    ok(await gql.run(RESTORE, { id: early }, as(owner)));
    expect([...(await queue.unfinishedFor('asset.process', [early]))], 'queued again').toEqual([early]);

    // Processed, then binned before the AI step ran (it skips binned memories): restoring queues the AI step.
    const analysed = await photo(chest, { addedBy: owner.account });
    ok(await gql.run(DELETE, { id: analysed }, as(owner)));
    ok(await gql.run(RESTORE, { id: analysed }, as(owner)));
    expect([...(await queue.unfinishedFor('asset.analyse', [analysed]))]).toEqual([analysed]);
    expect([...(await queue.unfinishedFor('asset.process', [analysed]))], 'processing is not repeated').toEqual([]);
  });

  it('existing stories show citations of binned and purged memories as removed, and tell nobody anything about them', async () => {
    const chest = await freshChest({ isPublic: true });
    const [a, b] = [await photo(chest, { addedBy: owner.account }), await photo(chest, { addedBy: owner.account })];
    const em = db.orm.em.fork();
    await em.nativeUpdate(Asset, { id: a }, { caption: 'Grandma at 12 Elm Street' });
    const story = await makeStory(em, await em.findOneOrFail(Chest, chest.id), {
      status: StoryStatus.READY,
      published: true,
      paragraphs: [{ text: 'She loved the garden.', assetIds: [a, b] }],
      timeline: [{ date: '1962', title: 'The garden', assetIds: [a] }],
      themes: [{ name: 'Gardens', assetIds: [b] }],
    });
    await em.nativeUpdate(Chest, { id: chest.id }, { publishedStory: story.id });
    ok(await gql.run(DELETE, { id: a }, as(owner)));
    for (const reader of [viewer, null, owner]) {
      const res = await gql.run(STORY, { c: chest.id }, as(reader));
      const s = ok(res).chest.publishedStory;
      expect(s.paragraphs).toEqual([{ text: 'She loved the garden.', assetIds: [a, b], removedAssetIds: [a] }]);
      expect(s.timeline).toEqual([{ assetIds: [a], removedAssetIds: [a] }]);
      expect(s.themes).toEqual([{ assetIds: [b], removedAssetIds: [] }]);
      expect(JSON.stringify(res), 'no caption or name of the removed memory').not.toMatch(/Elm Street|garden-/);
    }
    ok(await gql.run(PURGE, { id: a }, as(owner)));
    expect(ok(await gql.run(STORY, { c: chest.id }, as(null))).chest.publishedStory.paragraphs[0].removedAssetIds).toEqual([a]);
  });

  it('moderation one memory at a time: owners and editors review thumbnails; an approved memory shows at once, a rejected one is erased and never shows', async () => {
    const chest = await freshChest();
    const em = db.orm.em.fork();
    const contribution = await makeContribution(em, await em.findOneOrFail(Chest, chest.id), { contributorName: 'A neighbour' });
    const [first, second, third] = [
      await photo(chest, { contribution }),
      await photo(chest, { contribution }),
      await photo(chest, { contribution }),
    ];
    const review = ok(await gql.run(CONTRIBUTION_ASSETS, { c: chest.id }, as(editor))).chest.contributions.edges[0].node;
    expect(review.assets.edges.map((e: any) => e.node.id), 'in the order they were sent').toEqual([first, second, third]);
    for (const e of review.assets.edges) expect(e.node.thumbnails.length, 'with thumbnails to judge by').toBeGreaterThan(0);
    const CAN = `query($c: ID!) { chest(id: $c) { contributions { edges { node { assets { edges { node { canDelete } } } } } } } }`;
    const waiting = ok(await gql.run(CAN, { c: chest.id }, as(owner))).chest.contributions.edges[0].node.assets.edges.map((e: any) => e.node.canDelete);
    expect(waiting, 'not in the chest yet: deleteMemory does not know it').toEqual([false, false, false]);
    expect(failure(await gql.run(DELETE, { id: first }, as(owner))).code).toBe('NOT_FOUND');
    expect(failure(await gql.run(ASSET, { id: first }, as(viewer))).code).toBe('NOT_FOUND');

    expect(failure(await gql.run(APPROVE_ONE, { id: first }, as(editor))).code, 'editors see, owners decide').toBe('FORBIDDEN');
    expect(failure(await gql.run(APPROVE_ONE, { id: first }, as(viewer))).code).toBe('NOT_FOUND');
    expect(ok(await gql.run(APPROVE_ONE, { id: first }, as(owner))).approveContributionMemory.approvedAt).toEqual(expect.any(String));
    expect(failure(await gql.run(APPROVE_ONE, { id: first }, as(owner))).code).toBe('ALREADY_REVIEWED');
    expect(ids(ok(await gql.run(ASSETS, { c: chest.id }, as(viewer))).chest.assets), 'visible while the rest waits').toEqual([first]);
    expect(ok(await gql.run(CAN, { c: chest.id }, as(owner))).chest.contributions.edges[0].node.assets.edges.map((e: any) => e.node.canDelete), 'approved alone: in the chest').toEqual([true, false, false]);
    expect(ok(await gql.run(ASSET, { id: first }, as(viewer))).asset.id).toBe(first);

    const rejectedBytes = await objectsOf(chest.id, second);
    expect(rejectedBytes.length).toBeGreaterThan(1);
    expect(ok(await gql.run(REJECT_ONE, { id: second }, as(owner))).rejectContributionMemory).toEqual({ id: contribution.id, status: 'PENDING' });
    expect(await db.orm.em.fork().count(Asset, { id: second })).toBe(0);
    expect(await objectsOf(chest.id, second), "the guest's refused photo is not kept").toEqual([]);
    expect(failure(await gql.run(REJECT_ONE, { id: first }, as(owner))).code, 'an approved one stays').toBe('ALREADY_REVIEWED');

    expect(ok(await gql.run(APPROVE, { id: contribution.id }, as(owner))).approveContribution.status).toBe(ContributionStatus.APPROVED);
    expect(ids(ok(await gql.run(ASSETS, { c: chest.id }, as(viewer))).chest.assets)).toEqual([first, third].sort());
    const added = ok(await gql.run(EVENTS, { c: chest.id }, as(viewer))).chestEvents.events.filter((e: any) => e.kind === 'MEMORY_ADDED');
    expect(added.map((e: any) => e.asset.id), 'each memory announced once, when it became visible').toEqual([first, third]);
    expect(failure(await gql.run(APPROVE_ONE, { id: third }, as(owner))).code).toBe('ALREADY_REVIEWED');
    await sweep(db.orm.em.fork(), storage, { graceMs: 0 });
    expect(await db.orm.em.fork().count(Asset, { id: second }), 'the sweep never brings a rejected memory back').toBe(0);
  });
});
