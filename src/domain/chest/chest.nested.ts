import type { Chest, Story } from '../../db/entities/index.js';
import { assertMay, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';

/** What a reader may see below a chest they can read. Resolvers ask these for nested fields. */

/** Members see every story; everyone else only published ones. */
export async function storiesPublishedOnly(actor: Actor, chest: Chest): Promise<boolean> {
  return !(await may(actor, chest, 'member'));
}

/** Contributions (pending ones, guests' names and messages) are for owners and editors. */
export async function assertMaySeeContributions(actor: Actor, chest: Chest): Promise<void> {
  await assertMay(actor, chest, 'moderate');
}

/** The caller's own role in the chest, or null. */
export async function myRole(actor: Actor, chest: Chest) {
  return actor.accountId ? actor.roles.load(chest.id) : null;
}

/**
 * The story the owners published, for everyone who may read the chest (members and non-members
 * alike see only the published version here); null for anyone else, and when none is published.
 * `load` is the per-request batch loader of published stories by id.
 */
export async function publishedStoryOf(actor: Actor, chest: Chest, load: (storyId: string) => Promise<Story | null>): Promise<Story | null> {
  if (!chest.publishedStory || !(await may(actor, chest, 'read'))) return null;
  return load(chest.publishedStory.id);
}
