import type { Asset, Chest, Face, Person } from '../../db/entities/index.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { maySeeLocation, maySeeLocationNow } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { derivativeUrl } from '../asset/download.js';
import { type Page, pageSize, type PageArgs } from '../pagination.js';
import { faceCropName } from './faces.step.js';
import type { CoverCrop, PeoplePageKey } from './people.queries.js';
import { shownToEveryone } from './people.queries.js';

/**
 * What a reader may see of people, below a chest or a memory they may read. The chest's members
 * (owners, editors, viewers) see every person, named or not, hidden or not; everyone else (view
 * links, public chests, guests) only the people the family named and did not hide, and of a photo
 * only those people's faces: never an unnamed group, never where a hidden person's face is.
 */

/** The chest's own people see everyone. */
export const seesEveryone = (actor: Actor, chestId: string): Promise<boolean> => maySeeLocation(actor, chestId);

/** seesEveryone without a promise when the caller's role in the chest is already known; undefined when not. */
export const seesEveryoneNow = (actor: Actor, chestId: string): boolean | undefined => maySeeLocationNow(actor, chestId);

/** One page of a chest's people, as this reader may see them. */
export async function listPeople(actor: Actor, chest: Chest, args: PageArgs, maxPageSize: number, load: (key: PeoplePageKey) => Promise<Page<Person>>): Promise<Page<Person>> {
  const limit = pageSize(args.first, maxPageSize);
  return load({ chestId: chest.id, limit, after: args.after ?? null, membersView: await seesEveryone(actor, chest.id) });
}

/** The faces of a photo this reader may see. */
export async function facesShown(actor: Actor, asset: Pick<Asset, 'chest'>, faces: readonly Face[], person: (id: string) => Promise<Person | null>): Promise<Face[]> {
  if (await seesEveryone(actor, asset.chest.id)) return [...faces];
  const shown: Face[] = [];
  for (const face of faces) {
    const p = face.person ? await person(face.person.id) : null;
    if (p && shownToEveryone(p)) shown.push(face);
  }
  return shown;
}

/** Whom a face belongs to, for this reader: null when nobody, or when the reader may not see them. */
export async function personOfFace(actor: Actor, face: Face, person: (id: string) => Promise<Person | null>): Promise<Person | null> {
  const p = face.person ? await person(face.person.id) : null;
  if (!p) return null;
  return shownToEveryone(p) || (await seesEveryone(actor, face.chest.id)) ? p : null;
}

/** A short-lived link to a person's face crop (WebP, no metadata), or null while none is made. */
export async function coverUrl(cover: CoverCrop | null, storage: StorageBackend, secret: string): Promise<string | null> {
  if (!cover) return null;
  return derivativeUrl({ id: cover.assetId }, { name: faceCropName(cover.faceId), storageKey: cover.cropKey, mimeType: 'image/webp' }, storage, secret);
}
