import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account, Asset, Chest, Contribution, DuplicateDismissal } from '../../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, TagSource } from '../../src/db/enums.js';
import { createActor } from '../../src/domain/actor.js';
import { resolveDuplicates } from '../../src/domain/duplicates/duplicates.service.js';
import { CAPTION_JOIN } from '../../src/domain/duplicates/merge.js';
import { NEAR_COPY_BITS } from '../../src/domain/story/duplicates.js';
import { topics } from '../../src/events/events.port.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { hammingDistance } from '../../src/media/perceptual-hash.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/db.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution } from '../support/factories.js';
import { createGraphQLRunner, failure, ok } from '../support/graphql.js';
import { buildPdf } from '../support/media.js';
import { type Fingerprint, fingerprints, resizedCopy, scene } from '../support/photos.js';
import { rejection } from '../support/rejection.js';

/**
 * Chest.duplicateGroups, resolveDuplicates and dismissDuplicates (issue 15, point 3) on real
 * photos: scenes drawn by sharp, copies resized and recompressed as phones pass them on, each
 * fingerprinted by the real image pipeline.
 */

const GROUPS = `query($id: ID!, $first: Int, $after: String) { chest(id: $id) { duplicateGroups(first: $first, after: $after) {
  edges { node { id reason distance assets { id } suggestedKeep { id } } } pageInfo { hasNextPage endCursor } } } }`;
const RESOLVE = `mutation($i: ResolveDuplicatesInput!) { resolveDuplicates(input: $i) { id caption place dateTaken
  tags { name source confidence } contributors { kind name contributionId accountId assetId mergedAt } } }`;
const DISMISS = `mutation($ids: [ID!]!) { dismissDuplicates(assetIds: $ids) { id } }`;
const CONTRIBUTORS = `query($id: ID!) { asset(id: $id) { id contributors { kind name } } }`;
const SHARE = `mutation($id: ID!) { createShareLink(chestId: $id) { token } }`;

const LOCATION = { latitude: 54.4858, longitude: -0.6206 };

describe.each(BACKENDS)('duplicates on %s', (backend) => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  const bus = new InProcessEventBus();
  const people = {} as Record<'owner' | 'owner2' | 'editor' | 'viewer' | 'stranger', { account: Account; token: string }>;
  let photo: { a: Buffer; aSmall: Buffer; b: Buffer; letter: Buffer; letterAgain: Buffer };
  let fp: Record<keyof typeof photo, Fingerprint>;
  let clock = Date.UTC(2020, 0, 1);
  const em = (): EntityManager => db.orm.em.fork();

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    gql = await createGraphQLRunner(db.orm, { events: bus });
    for (const who of ['owner', 'owner2', 'editor', 'viewer', 'stranger'] as const) people[who] = await makeAccount(em(), { displayName: `The ${who}` });
    const a = await scene(11);
    const letter = await scene(40);
    photo = { a, aSmall: await resizedCopy(a, 600), b: await scene(12), letter, letterAgain: await resizedCopy(letter, 800, 75) };
    const keys = Object.keys(photo) as (keyof typeof photo)[];
    const prints = await fingerprints(keys.map((k) => photo[k]));
    fp = Object.fromEntries(keys.map((k, i) => [k, prints[i]!])) as typeof fp;
  });
  afterAll(async () => {
    await gql?.stop();
    await bus.close();
    await db?.close();
  });

  /** A private chest of the owners, with an editor and a viewer. */
  async function chestOf(over: Partial<Chest> = {}): Promise<Chest> {
    const e = em();
    const chest = await makeChest(e, { personName: 'Rose Ellis', allowContributions: true, ...over }, people.owner.account);
    await addMember(e, chest, people.owner2.account, ChestRole.OWNER);
    await addMember(e, chest, people.editor.account, ChestRole.EDITOR);
    await addMember(e, chest, people.viewer.account, ChestRole.VIEWER);
    return chest;
  }

  /** A memory holding these bytes, as the pipeline left it; added one second after the last. */
  async function memory(chest: Chest, bytes: Buffer, print: Fingerprint | null, over: Partial<Asset> = {}): Promise<Asset> {
    const e = em();
    clock += 1000;
    return makeAsset(e, e.getReference(Chest, chest.id), {
      sha256: createHash('sha256').update(bytes).digest('hex'),
      size: bytes.length,
      status: ProcessingStatus.COMPLETE,
      createdAt: new Date(clock),
      addedBy: e.getReference(Account, people.owner.account.id),
      ...(print ?? {}),
      ...over,
    });
  }
  const contribution = async (chest: Chest, name: string, status = ContributionStatus.APPROVED): Promise<Contribution> => {
    const e = em();
    return makeContribution(e, e.getReference(Chest, chest.id), { contributorName: name, status });
  };
  const fromGuest = (c: Contribution) => ({ contribution: em().getReference(Contribution, c.id), addedBy: null });
  const groupsOf = async (chestId: string, token = people.owner.token, first = 50) => ok(await gql.run(GROUPS, { id: chestId, first }, { token })).chest.duplicateGroups;
  const ids = (list: { id: string }[]) => list.map((a) => a.id);

  it('groups exact copies from an owner and an approved guest with a resized copy, and a document sent twice; never different photos, pending or binned copies, or two letters that look alike', async () => {
    const chest = await chestOf();
    const ann = await contribution(chest, 'Ann');
    const waiting = await contribution(chest, 'Bob', ContributionStatus.PENDING);
    const mine = await memory(chest, photo.a, fp.a);
    const annsCopy = await memory(chest, photo.a, fp.a, { ...fromGuest(ann), caption: 'Mum on the pier at Whitby' });
    const small = await memory(chest, photo.aSmall, fp.aSmall, { addedBy: em().getReference(Account, people.editor.account.id) });
    await memory(chest, photo.b, fp.b);
    await memory(chest, photo.a, fp.a, fromGuest(waiting));
    await memory(chest, photo.a, fp.a, { deletedAt: new Date() });
    const manual = buildPdf([['Instructions for the washing machine']]);
    const doc = await memory(chest, manual, null, { fileType: FileType.DOCUMENT, mimeType: 'application/pdf' });
    const docAgain = await memory(chest, manual, null, { fileType: FileType.DOCUMENT, mimeType: 'application/pdf' });
    // Two letters photographed on one table: near pictures, different words.
    await memory(chest, photo.letter, fp.letter, { extractedText: 'Dear Rose, the apple tree is in bloom again and the garden smells of blossom all day long. With love, Margaret' });
    await memory(chest, photo.letterAgain, fp.letterAgain, { extractedText: 'Dear Aunt Mary, thank you so much for the parcel, which arrived on Tuesday morning in perfect condition. Dorothy' });

    const near = hammingDistance(fp.a.perceptualHash, fp.aSmall.perceptualHash);
    // Other bytes (so NEAR, not EXACT), the same picture.
    expect(photo.aSmall.equals(photo.a)).toBe(false);
    expect(near).toBeLessThanOrEqual(NEAR_COPY_BITS);
    expect(hammingDistance(fp.a.perceptualHash, fp.b.perceptualHash)).toBeGreaterThan(NEAR_COPY_BITS);
    expect(hammingDistance(fp.letter.perceptualHash, fp.letterAgain.perceptualHash)).toBeLessThanOrEqual(NEAR_COPY_BITS);

    const groups = await groupsOf(chest.id);
    expect(groups.edges.map((e: any) => e.node)).toEqual([
      // The guest's copy has as many pixels as the owner's and a person's caption: it is the one to keep.
      { id: expect.any(String), reason: 'NEAR', distance: near, assets: ids([mine, annsCopy, small]).map((id) => ({ id })), suggestedKeep: { id: annsCopy.id } },
      { id: expect.any(String), reason: 'EXACT', distance: 0, assets: ids([doc, docAgain]).map((id) => ({ id })), suggestedKeep: { id: doc.id } },
    ]);
    expect(groups.pageInfo.hasNextPage).toBe(false);

    // Pages, oldest group first; an editor sees the same.
    const first = await groupsOf(chest.id, people.editor.token, 1);
    expect(first.edges.map((e: any) => e.node.reason)).toEqual(['NEAR']);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const next = ok(await gql.run(GROUPS, { id: chest.id, first: 1, after: first.pageInfo.endCursor }, { token: people.editor.token })).chest.duplicateGroups;
    expect(next.edges.map((e: any) => e.node.assets.map((a: any) => a.id))).toEqual([ids([doc, docAgain])]);
    expect(next.pageInfo.hasNextPage).toBe(false);
  });

  it('shows groups and contributors to owners and editors only; merges and dismissals are for owners', async () => {
    const chest = await chestOf();
    const ann = await contribution(chest, 'Ann');
    const mine = await memory(chest, photo.a, fp.a);
    const annsCopy = await memory(chest, photo.a, fp.a, fromGuest(ann));
    const share = ok(await gql.run(SHARE, { id: chest.id }, { token: people.owner.token })).createShareLink.token as string;
    const as = {
      owner: { token: people.owner.token },
      editor: { token: people.editor.token },
      viewer: { token: people.viewer.token },
      shareHolder: { shareToken: share },
      stranger: { token: people.stranger.token },
      anonymous: {},
    };
    const codes: Record<string, unknown[]> = {};
    for (const [who, opts] of Object.entries(as)) {
      const groups = await gql.run(GROUPS, { id: chest.id }, opts);
      const contributors = await gql.run(CONTRIBUTORS, { id: mine.id }, opts);
      const dismiss = await gql.run(DISMISS, { ids: [annsCopy.id, mine.id] }, who === 'owner' ? { token: people.stranger.token } : opts);
      codes[who] = [
        groups.errors ? failure(groups).code : groups.data!.chest.duplicateGroups.edges.length,
        contributors.errors ? failure(contributors).code : contributors.data!.asset.contributors,
        failure(dismiss).code,
      ];
    }
    expect(codes).toEqual({
      owner: [1, [{ kind: 'MEMBER', name: 'The owner' }], 'NOT_FOUND'],
      editor: [1, [{ kind: 'MEMBER', name: 'The owner' }], 'FORBIDDEN'],
      viewer: ['FORBIDDEN', null, 'FORBIDDEN'],
      shareHolder: ['UNAUTHENTICATED', null, 'UNAUTHENTICATED'],
      // A private chest: nobody else learns it exists.
      stranger: ['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'],
      anonymous: ['NOT_FOUND', 'NOT_FOUND', 'NOT_FOUND'],
    });
    for (const [who, opts] of Object.entries(as)) {
      if (who === 'owner') continue;
      const res = await gql.run(RESOLVE, { i: { keepAssetId: mine.id, duplicateAssetIds: [annsCopy.id] } }, opts);
      expect([who, failure(res).code]).toEqual([who, { editor: 'FORBIDDEN', viewer: 'FORBIDDEN', shareHolder: 'UNAUTHENTICATED' }[who] ?? 'NOT_FOUND']);
    }
    // Nothing changed for the refusals.
    expect(await em().count(Asset, { chest: chest.id, deletedAt: null })).toBe(2);
  });

  it("merges captions, tags, place, date, location and who contributed into the kept memory, field by field, and bins the copies", async () => {
    const chest = await chestOf();
    const ann = await contribution(chest, 'Ann');
    const kept = await memory(chest, photo.a, fp.a, {
      caption: 'Rose on the pier',
      tags: [{ name: 'pier', source: TagSource.USER, confidence: 1 }, { name: 'sea', source: TagSource.AI, confidence: 0.7 }],
    });
    const annsCopy = await memory(chest, photo.a, fp.a, {
      ...fromGuest(ann),
      caption: "Mum's favourite day",
      tags: [{ name: 'Sea', source: TagSource.AI, confidence: 0.9 }, { name: '1960s', source: TagSource.EXIF, confidence: 1 }],
      place: 'Whitby',
      dateTaken: new Date('1962-06-01T00:00:00Z'),
      location: { ...LOCATION },
    });
    // The editor's copy: a machine caption (never merged as a person's words), the same caption as the kept one in other case, a later place and date.
    const editorsCopy = await memory(chest, photo.aSmall, fp.aSmall, {
      addedBy: em().getReference(Account, people.editor.account.id),
      caption: 'A woman standing on a pier',
      analyses: [{ task: 'describeImage', status: 'DONE', provider: 'local', model: 'test', caption: 'A woman standing on a pier' } as never],
      tags: [{ name: 'Pier', source: TagSource.USER, confidence: 1 }, { name: 'woman', source: TagSource.AI, confidence: 0.6 }],
      place: 'Scarborough',
      dateTaken: new Date('1970-01-01T00:00:00Z'),
    });
    const alsoMine = await memory(chest, photo.a, fp.a, { caption: '  rose on the PIER ' });

    const live = bus.subscribe<{ kind: string; assetId: string | null }>(topics.chest(chest.id));
    const res = ok(await gql.run(RESOLVE, { i: { keepAssetId: kept.id, duplicateAssetIds: [alsoMine.id, editorsCopy.id, annsCopy.id] } }, { token: people.owner.token })).resolveDuplicates;
    // The copies left the chest as a deleteMemory would take them: live clients and catch-up both hear it, by id only.
    const heard = [(await live.next()).value, (await live.next()).value, (await live.next()).value];
    await live.return?.();
    expect(heard.map((m) => [m.kind, m.assetId])).toEqual([annsCopy.id, editorsCopy.id, alsoMine.id].map((id) => ['MEMORY_REMOVED', id]));
    const EVENTS = `query($c: ID!) { chestEvents(chestId: $c) { events { kind asset { id } removedAssetId } } }`;
    const log = ok(await gql.run(EVENTS, { c: chest.id }, { token: people.viewer.token })).chestEvents.events;
    expect(log.filter((e: any) => e.kind === 'MEMORY_REMOVED')).toEqual([annsCopy.id, editorsCopy.id, alsoMine.id].map((id) => ({ kind: 'MEMORY_REMOVED', asset: null, removedAssetId: id })));
    expect(res.caption).toBe(['Rose on the pier', "Mum's favourite day"].join(CAPTION_JOIN));
    expect(res.place).toBe('Whitby');
    expect(res.dateTaken).toBe('1962-06-01T00:00:00.000Z');
    expect(res.tags).toEqual([
      { name: 'pier', source: 'USER', confidence: 1 },
      { name: 'Sea', source: 'AI', confidence: 0.9 },
      { name: '1960s', source: 'EXIF', confidence: 1 },
      { name: 'woman', source: 'AI', confidence: 0.6 },
    ]);
    // Oldest copy first, whatever order the owner listed them in.
    expect(res.contributors).toEqual([
      { kind: 'MEMBER', name: 'The owner', contributionId: null, accountId: people.owner.account.id, assetId: kept.id, mergedAt: null },
      { kind: 'GUEST', name: 'Ann', contributionId: ann.id, accountId: null, assetId: annsCopy.id, mergedAt: expect.any(String) },
      { kind: 'MEMBER', name: 'The editor', contributionId: null, accountId: people.editor.account.id, assetId: editorsCopy.id, mergedAt: expect.any(String) },
      { kind: 'MEMBER', name: 'The owner', contributionId: null, accountId: people.owner.account.id, assetId: alsoMine.id, mergedAt: expect.any(String) },
    ]);

    const row = await em().findOneOrFail(Asset, kept.id);
    expect(row.location).toEqual(LOCATION);
    expect(row.deletedAt).toBeNull();
    expect(row.mergedFrom.map((m) => m.assetId)).toEqual([annsCopy.id, editorsCopy.id, alsoMine.id]);
    for (const copy of [annsCopy, editorsCopy, alsoMine]) {
      const binned = await em().findOneOrFail(Asset, copy.id);
      expect(binned.deletedAt).toBeInstanceOf(Date);
      expect(binned.deletedBy?.id).toBe(people.owner.account.id);
      // The copy itself is untouched in the bin: restoring it gives back what it was.
      expect(binned.caption).toBe(copy.caption);
      expect(binned.tags).toEqual(copy.tags);
    }
    expect((await groupsOf(chest.id)).edges).toEqual([]);
    // The viewer reads the memory, not who sent it.
    expect(ok(await gql.run(CONTRIBUTORS, { id: kept.id }, { token: people.viewer.token })).asset.contributors).toBeNull();

    // Merging a merged memory carries its copies along.
    const later = await memory(chest, photo.a, fp.a, { caption: 'Whitby, summer' });
    const again = ok(await gql.run(RESOLVE, { i: { keepAssetId: later.id, duplicateAssetIds: [kept.id] } }, { token: people.owner2.token })).resolveDuplicates;
    expect(again.caption).toBe(['Whitby, summer', 'Rose on the pier', "Mum's favourite day"].join(CAPTION_JOIN));
    expect(again.contributors.map((c: any) => c.assetId)).toEqual([later.id, kept.id, annsCopy.id, editorsCopy.id, alsoMine.id]);
  });

  it("a person's caption on a copy replaces the kept memory's machine caption; with none anywhere the kept one's stays", async () => {
    const chest = await chestOf();
    const machine = { analyses: [{ task: 'describeImage', status: 'DONE', provider: 'local', model: 'test', caption: 'A pier by the sea' } as never], caption: 'A pier by the sea' };
    const kept = await memory(chest, photo.a, fp.a, machine);
    const copy = await memory(chest, photo.a, fp.a, { caption: 'Grandma at Whitby' });
    expect(ok(await gql.run(RESOLVE, { i: { keepAssetId: kept.id, duplicateAssetIds: [copy.id] } }, { token: people.owner.token })).resolveDuplicates.caption).toBe('Grandma at Whitby');
    const other = await memory(chest, photo.b, fp.b, machine);
    const otherCopy = await memory(chest, photo.b, fp.b);
    expect(ok(await gql.run(RESOLVE, { i: { keepAssetId: other.id, duplicateAssetIds: [otherCopy.id] } }, { token: people.owner.token })).resolveDuplicates.caption).toBe('A pier by the sea');
  });

  it('refuses what is not a merge of visible memories of one chest and one kind, with stable codes', async () => {
    const chest = await chestOf();
    const elsewhere = await chestOf();
    const waiting = await contribution(chest, 'Bob', ContributionStatus.PENDING);
    const kept = await memory(chest, photo.a, fp.a);
    const copy = await memory(chest, photo.a, fp.a);
    const theirs = await memory(elsewhere, photo.a, fp.a);
    const pending = await memory(chest, photo.a, fp.a, fromGuest(waiting));
    const binned = await memory(chest, photo.a, fp.a, { deletedAt: new Date() });
    const recording = await memory(chest, photo.a, null, { fileType: FileType.AUDIO, mimeType: 'audio/mpeg' });
    const owner = () => {
      const e = em();
      return [e, createActor(e, people.owner.account.id)] as const;
    };
    const attempt = async (keepAssetId: string, duplicateAssetIds: string[]) => {
      const err = await rejection(resolveDuplicates(...owner(), { keepAssetId, duplicateAssetIds }, bus));
      return [err.code, err.field];
    };
    expect(await attempt(kept.id, [])).toEqual(['BAD_USER_INPUT', 'duplicateAssetIds']);
    expect(await attempt(kept.id, [kept.id])).toEqual(['BAD_USER_INPUT', 'duplicateAssetIds']);
    expect(await attempt(kept.id, [copy.id, copy.id])).toEqual(['BAD_USER_INPUT', 'duplicateAssetIds']);
    expect(await attempt(kept.id, [recording.id])).toEqual(['BAD_USER_INPUT', 'duplicateAssetIds']);
    for (const hidden of [theirs.id, pending.id, binned.id, 'not-an-id']) expect(await attempt(kept.id, [copy.id, hidden])).toEqual(['NOT_FOUND', 'duplicateAssetIds']);
    expect(await attempt(binned.id, [copy.id])).toEqual(['NOT_FOUND', undefined]);
    // Nothing was merged or binned by the refusals.
    expect((await em().findOneOrFail(Asset, copy.id)).deletedAt).toBeNull();
    expect((await em().findOneOrFail(Asset, kept.id)).mergedFrom).toEqual([]);
  });

  it('two owners merging into one memory at once both keep their captions; merging one copy twice at once: one wins, the other is told CONFLICT', async () => {
    const chest = await chestOf();
    const kept = await memory(chest, photo.a, fp.a, { caption: 'Rose' });
    const one = await memory(chest, photo.a, fp.a, { caption: 'At the pier' });
    const two = await memory(chest, photo.aSmall, fp.aSmall, { caption: 'Summer 1962' });
    const run = (who: 'owner' | 'owner2', keepAssetId: string, duplicateAssetIds: string[]) => {
      const e = em();
      return resolveDuplicates(e, createActor(e, people[who].account.id), { keepAssetId, duplicateAssetIds }, bus);
    };
    await Promise.all([run('owner', kept.id, [one.id]), run('owner2', kept.id, [two.id])]);
    const row = await em().findOneOrFail(Asset, kept.id);
    expect(row.caption!.split(CAPTION_JOIN).sort()).toEqual(['At the pier', 'Rose', 'Summer 1962'].sort());
    expect(row.mergedFrom.map((m) => m.assetId).sort()).toEqual([one.id, two.id].sort());

    const a = await memory(chest, photo.b, fp.b, { caption: 'The garden' });
    const b = await memory(chest, photo.b, fp.b, { caption: 'Roses by the wall' });
    const c = await memory(chest, photo.b, fp.b, { caption: 'June' });
    const outcomes = await Promise.allSettled([run('owner', a.id, [c.id]), run('owner2', b.id, [c.id])]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(['fulfilled', 'rejected']);
    const lost = outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult;
    // CONFLICT when the loser reached its locks while the winner held them; NOT_FOUND (duplicateAssetIds) when the
    // winner had already committed before the loser's first check: c is in the bin by then. Which happens is timing.
    expect([['CONFLICT', undefined], ['NOT_FOUND', 'duplicateAssetIds']]).toContainEqual([lost.reason.code, lost.reason.field]);
    const winner = outcomes[0]!.status === 'fulfilled' ? a : b;
    expect((await em().findOneOrFail(Asset, winner.id)).caption).toBe(`${winner.caption}${CAPTION_JOIN}June`);
  });

  it('an owner dismisses a group: it is not suggested again, and other groups stay', async () => {
    const chest = await chestOf();
    const x = await memory(chest, photo.a, fp.a);
    const y = await memory(chest, photo.aSmall, fp.aSmall);
    const p = await memory(chest, photo.b, fp.b);
    const q = await memory(chest, photo.b, fp.b);
    expect((await groupsOf(chest.id)).edges).toHaveLength(2);
    for (const few of [[x.id], []]) {
      const bad = failure(await gql.run(DISMISS, { ids: few }, { token: people.owner.token }));
      expect([bad.code, bad.field]).toEqual(['BAD_USER_INPUT', 'assetIds']);
    }
    ok(await gql.run(DISMISS, { ids: [y.id, x.id] }, { token: people.owner.token }));
    // Twice is the same decision.
    ok(await gql.run(DISMISS, { ids: [x.id, y.id] }, { token: people.owner2.token }));
    expect(await em().count(DuplicateDismissal, { chest: chest.id })).toBe(1);
    const left = await groupsOf(chest.id);
    expect(left.edges.map((e: any) => e.node.assets.map((a: any) => a.id))).toEqual([[p.id, q.id]]);
  });
});
