import type { EntityManager } from '@mikro-orm/postgresql';
import { indexStories } from '../search/story-entries.js';
import { Chest, Face, Person } from '../../db/entities/index.js';
import { withinTransaction } from '../../db/transaction.js';
import { assertMay, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { badInput, notFound } from '../errors.js';
import { isUuid, parseInput } from '../validation.js';
import { holdCaptions, holdCaptionsOf, recaption } from './captions.js';
import { tidyPeople } from './face-clustering.js';
import { type HidePersonInput, hidePersonInput, type MergePeopleInput, mergePeopleInput, type MoveFaceInput, moveFaceInput, type NamePersonInput, namePersonInput } from './people.input.js';
import { countFaces, shownToEveryone } from './people.queries.js';
import { seesEveryone } from './people.nested.js';
import { assetsShowing, enqueueRedaction } from './redaction.js';
import type { JobQueue } from '../../jobs/jobs.port.js';

/**
 * What owners and editors decide about people: their names, who is who (merging two groups,
 * moving a face), and consent (hiding a person). Every decision about a face marks it as a
 * person's (assignedByPerson): the AI step never changes it again. Each one recomposes, in its
 * transaction, the machine captions of the photos it concerns (captions.ts), so they name whom
 * the family named and never someone hidden.
 */

/**
 * The person, if the actor may see them (NOT_FOUND otherwise, as for a chest they may not read:
 * outside the family an unnamed or hidden person does not exist), and may edit the chest
 * (FORBIDDEN, or UNAUTHENTICATED when signed out).
 */
async function personToEdit(em: EntityManager, actor: Actor, personId: string): Promise<Person> {
  const person = isUuid(personId) ? await em.findOne(Person, { id: personId }, { populate: ['chest'] }) : null;
  if (!person || !(await maySee(em, actor, person))) throw notFound('Person');
  await assertMay(actor, person.chest, 'edit');
  return person;
}

/** As Chest.people shows them: members see everyone; others named, shown people with a face on a memory they may see. */
async function maySee(em: EntityManager, actor: Actor, person: Person): Promise<boolean> {
  if (!(await may(actor, person.chest, 'read'))) return false;
  if (await seesEveryone(actor, person.chest.id)) return true;
  return shownToEveryone(person) && (await countFaces(em, [person.id]))[0]! > 0;
}

/** Owners and editors: names a person (a group of faces); null clears the name, which hides them from non-members again. */
export async function namePerson(em: EntityManager, actor: Actor, input: NamePersonInput): Promise<Person> {
  const person = await personToEdit(em, actor, String(input.personId ?? ''));
  const data = parseInput(namePersonInput, input);
  return withinTransaction(em, async () => {
    const assets = await holdCaptionsOf(em, { chestId: person.chest.id, personIds: [person.id] });
    person.name = data.name || null;
    await em.flush();
    await recaption(em, { assetIds: assets });
    await indexStories(em, { chestIds: [person.chest.id] });
    return person;
  });
}

/**
 * Owners and editors: a person may ask not to be shown; or may be shown again. Their photos'
 * blurred copies are remade by the worker (faces.redact); until then people outside the family
 * get no picture of those photos.
 */
export async function setPersonHidden(em: EntityManager, actor: Actor, queue: JobQueue, input: HidePersonInput): Promise<Person> {
  const person = await personToEdit(em, actor, String(input.personId ?? ''));
  const data = parseInput(hidePersonInput, input);
  if (person.hidden === data.hidden) return person;
  return withinTransaction(em, async () => {
    const assets = await holdCaptionsOf(em, { chestId: person.chest.id, personIds: [person.id] });
    person.hidden = data.hidden;
    await em.flush();
    await enqueueRedaction(em, queue, assets);
    await recaption(em, { assetIds: assets });
    await indexStories(em, { chestIds: [person.chest.id] });
    return person;
  });
}

/**
 * Owners and editors: two groups of faces are one person. The faces of `personId` join
 * `intoPersonId`, who keeps their name (or takes the other's when they had none) and stays hidden
 * if either was: consent is never dropped by a merge.
 */
export async function mergePeople(em: EntityManager, actor: Actor, queue: JobQueue, input: MergePeopleInput): Promise<Person> {
  const from = await personToEdit(em, actor, String(input.personId ?? ''));
  const into = await personToEdit(em, actor, String(input.intoPersonId ?? ''));
  parseInput(mergePeopleInput, input);
  if (into.chest.id !== from.chest.id) throw otherChest('intoPersonId');
  if (into.id === from.id) throw badInput('intoPersonId', 'intoPersonId: a person cannot be merged into themselves');
  return withinTransaction(em, async () => {
    const assets = await holdCaptionsOf(em, { chestId: into.chest.id, personIds: [from.id, into.id] });
    // The faces of one of them become (or stay) a hidden person's: their photos are blurred again.
    if (into.hidden !== from.hidden) await enqueueRedaction(em, queue, await assetsShowing(em, [into.hidden ? from.id : into.id]));
    into.name ??= from.name;
    into.hidden = into.hidden || from.hidden;
    await em.flush();
    await em.execute('update face set person_id = ?, assigned_by_person = true, updated_at = now() where person_id = ?', [into.id, from.id]);
    await tidyPeople(em, [from.id, into.id]);
    await recaption(em, { assetIds: assets });
    await indexStories(em, { chestIds: [into.chest.id] });
    return em.findOneOrFail(Person, { id: into.id }, { refresh: true });
  });
}

/** Owners and editors: whose face this is, or nobody's. The AI step never moves it again. */
export async function moveFace(em: EntityManager, actor: Actor, queue: JobQueue, input: MoveFaceInput): Promise<Face> {
  const face = isUuid(String(input.faceId ?? '')) ? await em.findOne(Face, { id: input.faceId }, { populate: ['chest', 'person'] }) : null;
  const chest = face?.chest as Chest | undefined;
  // Outside the family, a face is known only through a person they may see.
  const visible = face && chest && (await may(actor, chest, 'read')) && ((await seesEveryone(actor, chest.id)) || (face.person !== null && (await maySee(em, actor, face.person))));
  if (!face || !chest || !visible) throw notFound('Face');
  await assertMay(actor, chest, 'edit');
  const data = parseInput(moveFaceInput, input);
  const target = data.personId === null ? null : await personToEdit(em, actor, data.personId);
  if (target && target.chest.id !== chest.id) throw otherChest('personId');
  return withinTransaction(em, async () => {
    await holdCaptions(em, { assetIds: [face.asset.id] });
    const before = face.person?.id ?? null;
    if (face.person?.hidden || target?.hidden) await enqueueRedaction(em, queue, [face.asset.id]);
    face.person = target;
    face.assignedByPerson = true;
    await em.flush();
    await tidyPeople(em, [before, target?.id].filter((p): p is string => !!p));
    await recaption(em, { assetIds: [face.asset.id] });
    return face;
  });
}

const otherChest = (field: string) => badInput(field, `${field}: that person is in another chest; people are never shared between chests`);
