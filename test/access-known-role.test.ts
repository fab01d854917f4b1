import { describe, expect, it } from 'vitest';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Asset } from '../src/db/entities/index.js';
import { ChestRole, FileType } from '../src/db/enums.js';
import { mayHaveOriginalNow, maySeeLocation, maySeeLocationNow } from '../src/domain/access/access.service.js';
import { createActor } from '../src/domain/actor.js';
import { visibleFilename, visibleMediaInfo } from '../src/domain/asset/download.js';
import { thumbnailsFor } from '../src/domain/people/redaction.js';

const CHEST = '00000000-0000-4000-8000-000000000001';

/** An EntityManager that answers the membership look-up from `roles` (and counts the look-ups). */
function fakeEm(roles: Map<string, ChestRole>) {
  const calls: unknown[][] = [];
  let release: (() => void) | null = null;
  const em = {
    async execute(_sql: string, params: unknown[]) {
      calls.push(params);
      const rows = [...roles].map(([chest_id, role]) => ({ chest_id, role }));
      if (hold) await new Promise<void>((r) => (release = r));
      return rows;
    },
  } as unknown as EntityManager;
  let hold = false;
  return { em, calls, holdNext: () => (hold = true), release: () => ((hold = false), release?.()) };
}

const asset = (over: Partial<Asset> = {}) =>
  ({
    id: 'a1',
    chest: { id: CHEST },
    filename: '12 Rue X.jpg',
    fileType: FileType.IMAGE,
    mimeType: 'image/jpeg',
    thumbnails: [{ name: '256', width: 256, height: 256, mimeType: 'image/webp', storageKey: 'k' }],
    mediaInfo: { camera: 'Pixel', codec: 'jpeg' },
    redaction: null,
    processedAt: null,
    ...over,
  }) as unknown as Asset;

describe('per-chest access decided once, read without a promise', () => {
  it('a signed-in caller: unknown until the role is loaded, then answered at once with the same rule', async () => {
    const { em, calls } = fakeEm(new Map([[CHEST, ChestRole.VIEWER]]));
    const actor = createActor(em, 'account');
    expect(actor.knownRole(CHEST)).toBeUndefined();
    expect(maySeeLocationNow(actor, CHEST)).toBeUndefined();
    // Not known yet: the filename is a promise (the async rule), and its answer is the real name.
    const pending = visibleFilename(actor, asset());
    expect(pending).toBeInstanceOf(Promise);
    expect(await pending).toBe('12 Rue X.jpg');
    expect(actor.knownRole(CHEST)).toBe(ChestRole.VIEWER);
    expect(visibleFilename(actor, asset())).toBe('12 Rue X.jpg');
    expect(visibleMediaInfo(actor, asset())).toEqual({ camera: 'Pixel', codec: 'jpeg' });
    expect(thumbnailsFor(actor, asset(), () => Promise.reject(new Error('members need no look-up')))).toHaveLength(1);
    expect(calls).toHaveLength(1);
  });

  it('a caller who is not a member: known as no, so the neutral name and no camera, at once', async () => {
    const { em } = fakeEm(new Map());
    const actor = createActor(em, 'account');
    expect(await maySeeLocation(actor, CHEST)).toBe(false);
    expect(maySeeLocationNow(actor, CHEST)).toBe(false);
    expect(visibleFilename(actor, asset())).toBe('photo.jpg');
    expect(visibleMediaInfo(actor, asset())).toEqual({ codec: 'jpeg' });
    // Outside the family thumbnails still ask for the hidden faces of the photo.
    const thumbs = thumbnailsFor(actor, asset(), async () => []);
    expect(thumbs).toBeInstanceOf(Promise);
    expect(await thumbs).toHaveLength(1);
  });

  it('anonymous: known at once; a view link that allows originals counts, one that does not, not', () => {
    const { em, calls } = fakeEm(new Map([[CHEST, ChestRole.OWNER]]));
    const actor = createActor(em, null);
    expect(actor.knownRole(CHEST)).toBeNull();
    expect(maySeeLocationNow(actor, CHEST)).toBe(false);
    actor.shareGrants.add(CHEST);
    expect(mayHaveOriginalNow(actor, CHEST)).toBe(false);
    expect(visibleFilename(actor, asset())).toBe('photo.jpg');
    actor.originalGrants.add(CHEST);
    expect(mayHaveOriginalNow(actor, CHEST)).toBe(true);
    expect(visibleFilename(actor, asset())).toBe('12 Rue X.jpg');
    expect(maySeeLocationNow(actor, CHEST)).toBe(false);
    expect(calls).toHaveLength(0);
  });

  it('roles.clear (a role changed in this request) forgets the known role, even while a look-up was in flight', async () => {
    const roles = new Map([[CHEST, ChestRole.VIEWER]]);
    const db = fakeEm(roles);
    const actor = createActor(db.em, 'account');
    await actor.roles.load(CHEST);
    expect(maySeeLocationNow(actor, CHEST)).toBe(true);
    roles.delete(CHEST);
    actor.roles.clear(CHEST);
    expect(actor.knownRole(CHEST)).toBeUndefined();

    // A look-up started before a clear must not leave its (old) answer behind as known.
    roles.set(CHEST, ChestRole.VIEWER);
    db.holdNext();
    const old = actor.roles.load(CHEST);
    await new Promise((r) => setTimeout(r, 0));
    roles.delete(CHEST);
    actor.roles.clear(CHEST);
    db.release();
    expect(await old).toBe(ChestRole.VIEWER);
    expect(actor.knownRole(CHEST)).toBeUndefined();
    expect(await maySeeLocation(actor, CHEST)).toBe(false);
    expect(maySeeLocationNow(actor, CHEST)).toBe(false);
  });
});
