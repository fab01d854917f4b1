import { createHash, randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { Account, Asset, Chest, Contribution, Membership, Session, Story } from '../../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, StoryStyle } from '../../src/db/enums.js';
import { newToken } from '../../src/domain/tokens.js';

/** Small builders for test rows; each returns a persisted (flushed) entity. */
export async function makeChest(em: EntityManager, over: Partial<Chest> = {}, owner?: Account): Promise<Chest> {
  const chest = em.create(Chest, { personName: 'Ada Example', ...over });
  if (owner) em.create(Membership, { chest, account: owner, role: ChestRole.OWNER });
  await em.flush();
  return chest;
}

let accounts = 0;
/** An account with a live session; returns the bearer token too. Password hashing is skipped: sign-in tests make their own. */
export async function makeAccount(em: EntityManager, over: Partial<Account> = {}): Promise<{ account: Account; token: string }> {
  const n = ++accounts;
  const account = em.create(Account, {
    email: `person${n}-${randomUUID().slice(0, 8)}@example.test`,
    displayName: `Person ${n}`,
    passwordHash: 'not-a-hash',
    ...over,
  });
  const { token, hash } = newToken();
  em.create(Session, { account, tokenHash: hash, expiresAt: new Date(Date.now() + 86_400_000) });
  await em.flush();
  return { account, token };
}

export async function addMember(em: EntityManager, chest: Chest, account: Account, role: ChestRole): Promise<Membership> {
  const m = em.create(Membership, { chest, account, role });
  await em.flush();
  return m;
}

export async function makeAsset(em: EntityManager, chest: Chest, over: Partial<Asset> = {}): Promise<Asset> {
  const id = randomUUID();
  const asset = em.create(Asset, {
    id,
    chest,
    filename: `memory-${id.slice(0, 8)}.jpg`,
    storageKey: `chests/${chest.id}/${id}`,
    fileType: FileType.IMAGE,
    size: 1024,
    mimeType: 'image/jpeg',
    sha256: createHash('sha256').update(id).digest('hex'),
    ...over,
  });
  await em.flush();
  return asset;
}

/** Many assets in one flush (a 200-asset chest should not take 200 round trips to build). */
export async function makeAssets(em: EntityManager, chest: Chest, n: number, over: (i: number) => Partial<Asset> = () => ({})) {
  const assets: Asset[] = [];
  for (let i = 0; i < n; i++) {
    const id = randomUUID();
    assets.push(
      em.create(Asset, {
        id,
        chest,
        filename: `memory-${i}.jpg`,
        storageKey: `chests/${chest.id}/${id}`,
        fileType: FileType.IMAGE,
        size: 1000 + i,
        mimeType: 'image/jpeg',
        sha256: createHash('sha256').update(id).digest('hex'),
        status: ProcessingStatus.COMPLETE,
        ...over(i),
      }),
    );
  }
  await em.flush();
  return assets;
}

export async function makeStory(em: EntityManager, chest: Chest, over: Partial<Story> = {}): Promise<Story> {
  const story = em.create(Story, { chest, title: 'A life', style: StoryStyle.BRIEF, ...over });
  await em.flush();
  return story;
}

export async function makeContribution(em: EntityManager, chest: Chest, over: Partial<Contribution> = {}): Promise<Contribution> {
  const c = em.create(Contribution, {
    chest,
    contributorName: 'A friend',
    status: ContributionStatus.PENDING,
    guestTokenHash: newToken().hash,
    ...over,
  });
  await em.flush();
  return c;
}
