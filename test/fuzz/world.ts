import type { EntityManager } from '@mikro-orm/postgresql';
import { Chest } from '../../src/db/entities/index.js';
import { ChestRole, ContributionStatus, ProcessingStatus, StoryStatus, TagSource } from '../../src/db/enums.js';
import { newToken } from '../../src/domain/tokens.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution, makeStory } from '../support/factories.js';
import type { Pools } from './operations.js';

/** Who calls: a session token, a view link's token (X-Share-Token), or neither. */
export interface Caller {
  token?: string;
  shareToken?: string;
}

export const CALLER_KINDS = ['anonymous', 'owner', 'editor', 'viewer', 'shareHolder', 'guest', 'otherMember'] as const;
export type CallerKind = (typeof CALLER_KINDS)[number];

/** Written into every text of the private chest: none of it may reach a caller. */
export const PRIVATE_MARKER = 'ZQX-PRIVATE-7f3a9c';

export interface World {
  callers: Record<CallerKind, Caller>;
  pools: Pools;
  /** Strings of the private chest (ids, names, captions): found in an answer, they are a leak. */
  secrets: string[];
}

/**
 * Two chests the callers know (the family's, private, and another family's) and a private one that
 * no caller may see, with a member, memories, a story and a contribution each. The guest is
 * anonymous and holds a contribution's guest token; the share holder a view link of the family's chest.
 */
export async function seedWorld(em: EntityManager): Promise<World> {
  const owner = await makeAccount(em, { displayName: 'Family owner' });
  const editor = await makeAccount(em);
  const viewer = await makeAccount(em);
  const other = await makeAccount(em);
  const hidden = await makeAccount(em, { displayName: `Hidden owner ${PRIVATE_MARKER}`, email: `hidden-${PRIVATE_MARKER.toLowerCase()}-${newToken().hash.slice(0, 8)}@example.test` });

  const share = newToken();
  const link = newToken();
  const family = await makeChest(em, { personName: 'Rose Ellis', allowContributions: true, shareTokenHash: share.hash, contributionTokenHash: link.hash }, owner.account);
  await addMember(em, family, editor.account, ChestRole.EDITOR);
  await addMember(em, family, viewer.account, ChestRole.VIEWER);
  const others = await makeChest(em, { personName: 'Albert Moss', isPublic: true }, other.account);

  const privateShare = newToken();
  const privateLink = newToken();
  const secret = await makeChest(
    em,
    { personName: `Secret ${PRIVATE_MARKER}`, description: `About ${PRIVATE_MARKER}`, allowContributions: true, shareTokenHash: privateShare.hash, contributionTokenHash: privateLink.hash },
    hidden.account,
  );

  const guest = newToken();
  const rows = await Promise.all([family, others, secret].map((chest) => populate(em, chest, chest === secret)));
  const contribution = await makeContribution(em, em.getReference(Chest, family.id), { guestTokenHash: guest.hash, contributorName: 'Anna', status: ContributionStatus.PENDING });
  const secretRows = rows[2]!;
  return {
    callers: {
      anonymous: {},
      owner: { token: owner.token },
      editor: { token: editor.token },
      viewer: { token: viewer.token },
      shareHolder: { shareToken: share.token },
      guest: {},
      otherMember: { token: other.token },
    },
    pools: {
      ids: [family.id, others.id, secret.id, owner.account.id, editor.account.id, hidden.account.id, contribution.id, ...rows.flat()],
      // The private chest's own tokens are not in the pool: no caller has them.
      tokens: [share.token, link.token, guest.token, newToken().token],
    },
    secrets: [PRIVATE_MARKER, PRIVATE_MARKER.toLowerCase(), secret.id, hidden.account.id, ...secretRows],
  };
}

/** A complete memory, a pending guest's memory, a ready story and a contribution; returns their ids. */
async function populate(em: EntityManager, chest: Chest, isSecret: boolean): Promise<string[]> {
  const mark = isSecret ? ` ${PRIVATE_MARKER}` : '';
  const memory = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE, caption: `Pier${mark}`, place: `Whitby${mark}`, filename: `pier${mark}.jpg`, tags: [{ name: `beach${mark}`, source: TagSource.USER, confidence: 1 }] });
  const contribution = await makeContribution(em, chest, { contributorName: `Friend${mark}`, message: `Hello${mark}` });
  const sent = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE, contribution, caption: `Sent${mark}` });
  const story = await makeStory(em, chest, { title: `A life${mark}`, content: `Story${mark}`, status: StoryStatus.READY, published: true });
  return [memory.id, contribution.id, sent.id, story.id];
}
