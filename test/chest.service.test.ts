import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Chest } from '../src/db/entities/index.js';
import { FileType } from '../src/db/enums.js';
import { createActor } from '../src/domain/actor.js';
import { createChest, deleteChest, getChest, listChests, restoreChest, updateChest } from '../src/domain/chest/chest.service.js';
import { createShareLink, openShareLink, revokeShareLink } from '../src/domain/chest/chest-links.service.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest } from './support/factories.js';
import { rejection } from './support/rejection.js';

describe.each(BACKENDS)('chest use cases on %s', (backend) => {
  let db: TestDatabase;
  let ownerId: string;
  const em = (): EntityManager => db.orm.em.fork();
  /** A fresh EntityManager and the owner's actor on it, as one request would have. */
  const asOwner = (): [EntityManager, ReturnType<typeof createActor>] => {
    const e = em();
    return [e, createActor(e, ownerId)];
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    ownerId = (await makeAccount(em())).account.id;
  });
  afterAll(async () => {
    await db?.close();
  });

  it('creates a chest with trimmed, normalised text; the creator owns it', async () => {
    const chest = await createChest(...asOwner(), {
      personName: '  Zoe\u0301 Martin ',
      description: 'Gardener.\nGrandmother.',
      birthDate: '1940-02-29',
      passingDate: '2020-01-01',
    });
    expect(chest.personName).toBe('Zoé Martin');
    expect(chest.personName).toHaveLength(10); // NFC: é is one code unit
    expect(chest.shareTokenHash).toBeNull();
    const [e, actor] = asOwner();
    expect(await actor.roles.load(chest.id)).toBe('OWNER');
    expect(e).toBeDefined();
    const again = await getChest(...asOwner(), chest.id);
    expect(again).toMatchObject({ personName: 'Zoé Martin', birthDate: '1940-02-29', passingDate: '2020-01-01', isPublic: false });
  });

  it.each([
    ['empty name', { personName: '   ' }, 'personName'],
    ['201-character name', { personName: 'x'.repeat(201) }, 'personName'],
    ['control character in name', { personName: 'A\u0007B' }, 'personName'],
    ['2001-character description', { personName: 'A', description: 'd'.repeat(2001) }, 'description'],
    ['impossible date', { personName: 'A', birthDate: '1950-02-30' }, 'birthDate'],
    ['future date', { personName: 'A', passingDate: '2999-01-01' }, 'passingDate'],
    ['passing before birth', { personName: 'A', birthDate: '1950-05-05', passingDate: '1950-05-04' }, 'passingDate'],
  ])('rejects %s as BAD_USER_INPUT naming the field', async (_case, input, field) => {
    const err = await rejection(createChest(...asOwner(), input as never));
    expect(err.code).toBe('BAD_USER_INPUT');
    expect(err.field).toBe(field);
  });

  it('counts name length in characters, as the database does', async () => {
    const name = '🌷'.repeat(200); // 400 UTF-16 units, 200 characters
    const chest = await createChest(...asOwner(), { personName: name });
    expect((await getChest(...asOwner(), chest.id)).personName).toBe(name);
  });

  it('updates only given fields, clears with null, and re-checks the life dates', async () => {
    const chest = await createChest(...asOwner(), { personName: 'Eli', description: 'x', birthDate: '1930-01-01' });
    const updated = await updateChest(...asOwner(), chest.id, { description: null, isPublic: true });
    expect(updated).toMatchObject({ personName: 'Eli', description: null, birthDate: '1930-01-01', isPublic: true });
    const err = await rejection(updateChest(...asOwner(), chest.id, { passingDate: '1929-12-31' }));
    expect([err.code, err.field]).toEqual(['BAD_USER_INPUT', 'passingDate']);
    expect((await getChest(...asOwner(), chest.id)).passingDate).toBeNull();
  });

  it('sets a hero image only from an image of the same chest', async () => {
    const e = em();
    const owner = await e.findOneOrFail(Account, ownerId);
    const chest = await makeChest(e, {}, owner);
    const other = await makeChest(e, {}, owner);
    const photo = await makeAsset(e, chest);
    const letter = await makeAsset(e, chest, { fileType: FileType.DOCUMENT, mimeType: 'application/pdf' });
    const foreign = await makeAsset(e, other);
    expect((await updateChest(...asOwner(), chest.id, { heroImageId: photo.id })).heroImage?.id).toBe(photo.id);
    for (const id of [letter.id, foreign.id, 'not-a-uuid']) {
      const err = await rejection(updateChest(...asOwner(), chest.id, { heroImageId: id }));
      expect([err.code, err.field]).toEqual(['BAD_USER_INPUT', 'heroImageId']);
    }
    expect((await updateChest(...asOwner(), chest.id, { heroImageId: null })).heroImage).toBeNull();
  });

  it('answers NOT_FOUND for unknown and malformed ids', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'nope', "'; drop table chest; --"]) {
      expect((await rejection(getChest(...asOwner(), id))).code).toBe('NOT_FOUND');
      expect((await rejection(updateChest(...asOwner(), id, { isPublic: true }))).code).toBe('NOT_FOUND');
    }
  });

  it('soft-deletes into the bin and restores with nothing lost', async () => {
    const e = em();
    const chest = await makeChest(e, { personName: 'Bin test' }, await e.findOneOrFail(Account, ownerId));
    const asset = await makeAsset(e, chest);
    await deleteChest(...asOwner(), chest.id);
    expect((await rejection(getChest(...asOwner(), chest.id))).code).toBe('NOT_FOUND');
    expect((await rejection(deleteChest(...asOwner(), chest.id))).code).toBe('NOT_FOUND');
    const bin = await listChests(...asOwner(), { deleted: true, first: 100 }, 100);
    expect(bin.items.map((i) => i.node.id)).toContain(chest.id);
    await restoreChest(...asOwner(), chest.id);
    expect((await getChest(...asOwner(), chest.id)).deletedAt).toBeNull();
    expect((await rejection(restoreChest(...asOwner(), chest.id))).code).toBe('CONFLICT');
    const rows = await em().execute<{ n: string }[]>('select count(*) as n from asset where id = ?', [asset.id]);
    expect(Number(rows[0]!.n)).toBe(1);
  });

  it('opens a chest by share link until the link is replaced, revoked, expired or the chest deleted', async () => {
    const chest = await createChest(...asOwner(), { personName: 'Shared' });
    const first = await createShareLink(...asOwner(), chest.id, {});
    const anon = () => createActor(em(), null);
    expect((await openShareLink(em(), anon(), first.token)).id).toBe(chest.id);
    const second = await createShareLink(...asOwner(), chest.id, {});
    expect(second.token).not.toBe(first.token);
    expect((await rejection(openShareLink(em(), anon(), first.token))).code).toBe('NOT_FOUND');
    expect((await openShareLink(em(), anon(), second.token)).id).toBe(chest.id);
    await revokeShareLink(...asOwner(), chest.id);
    expect((await rejection(openShareLink(em(), anon(), second.token))).code).toBe('NOT_FOUND');
    const expiring = await createShareLink(...asOwner(), chest.id, { expiresAt: new Date(Date.now() + 60_000) });
    await em().nativeUpdate(Chest, { id: chest.id }, { shareTokenExpiresAt: new Date(Date.now() - 1) });
    expect((await rejection(openShareLink(em(), anon(), expiring.token))).code).toBe('NOT_FOUND');
    const third = await createShareLink(...asOwner(), chest.id, {});
    await deleteChest(...asOwner(), chest.id);
    expect((await rejection(openShareLink(em(), anon(), third.token))).code).toBe('NOT_FOUND');
    expect((await rejection(openShareLink(em(), anon(), 'short'))).code).toBe('NOT_FOUND');
    expect((await rejection(createShareLink(...asOwner(), chest.id, {}))).code).toBe('NOT_FOUND');
  });

  it('pages through chests newest first without gaps or repeats', async () => {
    const e = em();
    // Identical createdAt values force the id tie-breaker to do its job.
    const at = new Date('2001-01-01T00:00:00Z');
    const made: Chest[] = [];
    const owner = await e.findOneOrFail(Account, ownerId);
    for (let i = 0; i < 5; i++) made.push(await makeChest(e, { personName: `Page ${i}`, createdAt: at }, owner));
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = await listChests(...asOwner(), { first: 2, after }, 100);
      seen.push(...page.items.map((i) => i.node.id));
      if (!page.hasNextPage) break;
      after = page.items.at(-1)!.cursor;
    }
    expect(new Set(seen).size).toBe(seen.length);
    const mine = seen.filter((id) => made.some((c) => c.id === id));
    expect(mine).toEqual(made.map((c) => c.id).sort().reverse());
  });

  it.each([
    ['first', { first: 0 }],
    ['first', { first: 101 }],
    ['after', { after: 'garbage' }],
    ['after', { after: Buffer.from('{"c":"yesterday","i":"x"}').toString('base64url') }],
  ])('rejects a bad %s argument', async (field, args) => {
    const err = await rejection(listChests(...asOwner(), args, 100));
    expect([err.code, err.field]).toEqual(['BAD_USER_INPUT', field]);
  });
});
