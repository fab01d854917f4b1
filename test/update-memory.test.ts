import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account, Asset, Chest } from '../src/db/entities/index.js';
import { ChestRole, ContributionStatus, TagSource } from '../src/db/enums.js';
import { createActor } from '../src/domain/actor.js';
import { updateMemory } from '../src/domain/asset/asset.service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution } from './support/factories.js';
import { rejection } from './support/rejection.js';

const EXIF_TAG = { name: '1960s', source: TagSource.EXIF, confidence: 1 };
const AI_BEACH = { name: 'beach', source: TagSource.AI, confidence: 0.8 };
const AI_SEA = { name: 'sea', source: TagSource.AI, confidence: 0.7 };
const LOCATION = { latitude: 54.4858, longitude: -0.6206 };

describe.each(BACKENDS)('updateMemory on %s', (backend) => {
  let db: TestDatabase;
  let chest: Chest;
  let people: Record<'owner' | 'editor' | 'viewer' | 'stranger', string>;
  const em = (): EntityManager => db.orm.em.fork();
  /** One request's EntityManager and actor. */
  const as = (who: keyof typeof people | null): [EntityManager, ReturnType<typeof createActor>] => {
    const e = em();
    return [e, createActor(e, who ? people[who] : null)];
  };
  const fresh = async (over: Partial<Asset> = {}): Promise<Asset> => {
    const e = em();
    return makeAsset(e, e.getReference(Chest, chest.id), { tags: [EXIF_TAG, AI_BEACH, AI_SEA], location: { ...LOCATION }, ...over });
  };
  const stored = (id: string): Promise<Asset> => em().findOneOrFail(Asset, id);

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    const e = em();
    const owner = (await makeAccount(e)).account;
    const editor = (await makeAccount(e)).account;
    const viewer = (await makeAccount(e)).account;
    const stranger = (await makeAccount(e)).account;
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner);
    await addMember(e, chest, editor, ChestRole.EDITOR);
    await addMember(e, chest, viewer, ChestRole.VIEWER);
    people = { owner: owner.id, editor: editor.id, viewer: viewer.id, stranger: stranger.id };
  });
  afterAll(async () => {
    await db?.close();
  });

  it("an editor sets caption, place, date and their own tags; other sources' tags stay", async () => {
    const asset = await fresh();
    const updated = await updateMemory(...as('editor'), asset.id, {
      caption: '  Rose on the pier\nwith Anna ',
      place: ' Whitby ',
      dateTaken: '1962-06-01',
      tags: ['Holiday', 'Beach', ' pier  head '],
    });
    expect(updated).toMatchObject({ caption: 'Rose on the pier\nwith Anna', place: 'Whitby' });
    const row = await stored(asset.id);
    expect(row.caption).toBe('Rose on the pier\nwith Anna');
    expect(row.place).toBe('Whitby');
    // A day is kept as that day, at midnight UTC, as camera wall-clock dates are.
    expect(row.dateTaken?.toISOString()).toBe('1962-06-01T00:00:00.000Z');
    // The person's tags first; the AI's "beach" gives way to theirs; EXIF and other AI tags stay.
    expect(row.tags).toEqual([
      { name: 'Holiday', source: TagSource.USER, confidence: 1 },
      { name: 'Beach', source: TagSource.USER, confidence: 1 },
      { name: 'pier head', source: TagSource.USER, confidence: 1 },
      EXIF_TAG,
      AI_SEA,
    ]);
    // GPS is not touched by a place in words.
    expect(row.location).toEqual(LOCATION);
  });

  it('leaves omitted fields as they are, and null or empty text clears', async () => {
    const asset = await fresh({ caption: 'Kept', place: 'Whitby', dateTaken: new Date('1962-06-01T10:00:00Z') });
    await updateMemory(...as('owner'), asset.id, { tags: ['pier'] });
    let row = await stored(asset.id);
    expect(row).toMatchObject({ caption: 'Kept', place: 'Whitby' });
    expect(row.dateTaken?.toISOString()).toBe('1962-06-01T10:00:00.000Z');

    await updateMemory(...as('owner'), asset.id, { caption: null, place: '   ', dateTaken: null });
    row = await stored(asset.id);
    expect(row).toMatchObject({ caption: null, place: null, dateTaken: null });
    expect(row.tags.map((t) => t.name)).toEqual(['pier', '1960s', 'beach', 'sea']);

    // Clearing the person's tags keeps everyone else's.
    await updateMemory(...as('owner'), asset.id, { tags: null });
    expect((await stored(asset.id)).tags).toEqual([EXIF_TAG, AI_BEACH, AI_SEA]);
  });

  it("replaces the person's earlier tags, one per name whatever the case", async () => {
    const asset = await fresh({ tags: [{ name: 'old', source: TagSource.USER, confidence: 1 }, AI_SEA] });
    await updateMemory(...as('editor'), asset.id, { tags: ['Sea', 'sea', 'SEA', 'Anna'] });
    expect((await stored(asset.id)).tags).toEqual([
      { name: 'Sea', source: TagSource.USER, confidence: 1 },
      { name: 'Anna', source: TagSource.USER, confidence: 1 },
    ]);
    await updateMemory(...as('editor'), asset.id, { tags: [] });
    expect((await stored(asset.id)).tags).toEqual([]);
  });

  it.each([
    ['1962-06-01T15:30:00+02:00', '1962-06-01T13:30:00.000Z'],
    ['1962-06-01T15:30:00Z', '1962-06-01T15:30:00.000Z'],
    // No zone: the wall-clock time, kept as if UTC (like EXIF dates).
    ['1962-06-01T15:30', '1962-06-01T15:30:00.000Z'],
    ['  2019-02-28 ', '2019-02-28T00:00:00.000Z'],
  ])('reads the date %j as %s', async (given, iso) => {
    const asset = await fresh();
    await updateMemory(...as('editor'), asset.id, { dateTaken: given });
    expect((await stored(asset.id)).dateTaken?.toISOString()).toBe(iso);
  });

  const threeDaysAhead = new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10);
  it.each([
    ['a place of 201 characters', { place: 'x'.repeat(201) }, 'place', /at most 200/],
    ['a place on two lines', { place: 'Whitby\nYorkshire' }, 'place', /control characters/],
    ['a control character in a place', { place: 'Whit\u0007by' }, 'place', /control characters/],
    ['a caption of 2001 characters', { caption: 'x'.repeat(2001) }, 'caption', /at most 2000/],
    ['a control character in a caption', { caption: 'a\u0000b' }, 'caption', /control characters/],
    ['a date in words', { dateTaken: 'summer 1962' }, 'dateTaken', /YYYY-MM-DD/],
    ['a date that does not exist', { dateTaken: '2019-02-30' }, 'dateTaken', /YYYY-MM-DD/],
    ['a date and time on a day that does not exist', { dateTaken: '2019-02-30T10:00:00Z' }, 'dateTaken', /YYYY-MM-DD/],
    ['a date in the future', { dateTaken: threeDaysAhead }, 'dateTaken', /future/],
    ['31 tags', { tags: Array.from({ length: 31 }, (_, i) => `tag ${i}`) }, 'tags', /at most 30/],
    ['an empty tag', { tags: ['ok', '  '] }, 'tags.1', /empty/],
    ['a tag of 51 characters', { tags: ['x'.repeat(51)] }, 'tags.0', /at most 50/],
    ['a field that does not exist', { location: 'Whitby' }, 'input', /./],
  ])('refuses %s: BAD_USER_INPUT naming %s, and changes nothing', async (_what, input, field, message) => {
    const asset = await fresh({ caption: 'Before', place: 'Before' });
    const err = await rejection(updateMemory(...as('editor'), asset.id, input as never));
    expect(err.code).toBe('BAD_USER_INPUT');
    expect(err.field).toBe(field);
    expect(err.message.startsWith(`${field}: `)).toBe(true);
    expect(err.message).toMatch(message);
    expect(await stored(asset.id)).toMatchObject({ caption: 'Before', place: 'Before', tags: [EXIF_TAG, AI_BEACH, AI_SEA] });
  });

  it('is for editors and owners: viewers are FORBIDDEN, anonymous and share holders UNAUTHENTICATED, strangers NOT_FOUND', async () => {
    const asset = await fresh({ caption: 'Before' });
    expect((await rejection(updateMemory(...as('viewer'), asset.id, { caption: 'x' }))).code).toBe('FORBIDDEN');
    // A private chest: whoever cannot read it learns nothing, not even from bad input.
    expect((await rejection(updateMemory(...as('stranger'), asset.id, { caption: 'x' }))).code).toBe('NOT_FOUND');
    expect((await rejection(updateMemory(...as('stranger'), asset.id, { place: 'x'.repeat(500) }))).code).toBe('NOT_FOUND');
    expect((await rejection(updateMemory(...as(null), asset.id, { caption: 'x' }))).code).toBe('NOT_FOUND');
    const [e, holder] = as(null);
    holder.shareGrants.add(chest.id);
    expect((await rejection(updateMemory(e, holder, asset.id, { caption: 'x' }))).code).toBe('UNAUTHENTICATED');
    expect((await stored(asset.id)).caption).toBe('Before');
  });

  it('on a public chest, signed-out readers are UNAUTHENTICATED and other accounts FORBIDDEN', async () => {
    const e = em();
    const open = await makeChest(e, { isPublic: true }, e.getReference(Account, people.owner));
    const asset = await makeAsset(e, open);
    expect((await rejection(updateMemory(...as(null), asset.id, { caption: 'x' }))).code).toBe('UNAUTHENTICATED');
    expect((await rejection(updateMemory(...as('stranger'), asset.id, { caption: 'x' }))).code).toBe('FORBIDDEN');
    await updateMemory(...as('owner'), asset.id, { caption: 'Mine' });
    expect((await stored(asset.id)).caption).toBe('Mine');
  });

  it('does not find memories nobody may see: deleted, in a pending contribution, in the bin, or malformed ids', async () => {
    const e = em();
    const deleted = await fresh({ deletedAt: new Date() });
    const pending = await fresh({ contribution: await makeContribution(e, e.getReference(Chest, chest.id), { status: ContributionStatus.PENDING }) });
    const binned = await makeChest(e, { deletedAt: new Date() }, e.getReference(Account, people.owner));
    const inBin = await makeAsset(e, binned);
    for (const id of [deleted.id, pending.id, inBin.id, 'not-a-uuid', '00000000-0000-4000-8000-000000000000']) {
      const err = await rejection(updateMemory(...as('owner'), id, { caption: 'x' }));
      expect(err.code, id).toBe('NOT_FOUND');
    }
    expect((await stored(pending.id)).caption).toBeNull();
  });

  it('an approved contribution’s memory is the chest’s: editors may edit it', async () => {
    const e = em();
    const approved = await fresh({ contribution: await makeContribution(e, e.getReference(Chest, chest.id), { status: ContributionStatus.APPROVED }) });
    await updateMemory(...as('editor'), approved.id, { place: 'Scarborough' });
    expect((await stored(approved.id)).place).toBe('Scarborough');
  });
});
