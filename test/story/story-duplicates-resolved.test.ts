import { createHash } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest } from '../../src/db/entities/index.js';
import { ContributionStatus, ProcessingStatus } from '../../src/db/enums.js';
import { createActor } from '../../src/domain/actor.js';
import { resolveDuplicates } from '../../src/domain/duplicates/duplicates.service.js';
import { CAPTION_JOIN } from '../../src/domain/duplicates/merge.js';
import { buildStoryContext } from '../../src/domain/story/story-context.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest, makeContribution } from '../support/factories.js';
import { fingerprints, resizedCopy, scene } from '../support/photos.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';

/**
 * Stories count a group of copies once (issue 15, point 3): unresolved copies are told as one
 * group; once resolveDuplicates merged them, the binned copies are no story material at all and
 * the kept memory carries their words.
 */
describe.each(BACKENDS)('stories and resolved duplicates on %s', (backend) => {
  let db: TestDatabase;
  const em = (): EntityManager => db.orm.em.fork();
  beforeAll(async () => {
    db = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('tells unresolved exact copies from the family and a guest once; after a merge the binned copy is no story material and the kept memory holds both captions', async () => {
    const e = em();
    const owner = (await makeAccount(e)).account;
    const chest = await makeChest(e, { personName: 'Rose Ellis' }, owner);
    const guest = await makeContribution(e, chest, { contributorName: 'Ann', status: ContributionStatus.APPROVED });
    const pier = await scene(21);
    const garden = await scene(22);
    const gardenSmall = await resizedCopy(garden, 500);
    const [fPier, fGarden, fGardenSmall] = await fingerprints([pier, garden, gardenSmall]);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const done = { status: ProcessingStatus.COMPLETE };
    const pierMine = await makeAsset(e, chest, { ...done, ...fPier, sha256: sha(pier), caption: 'Rose on the pier' });
    const pierAnns = await makeAsset(e, chest, { ...done, ...fPier, sha256: sha(pier), contribution: guest });
    const gardenMine = await makeAsset(e, chest, { ...done, ...fGarden, sha256: sha(garden), caption: 'The school garden' });
    const gardenAnns = await makeAsset(e, chest, { ...done, ...fGardenSmall, sha256: sha(gardenSmall), contribution: guest, caption: 'Mrs Ellis and the beans' });
    const ids = (ctx: Awaited<ReturnType<typeof buildStoryContext>>) => ctx.memories.map((m) => m.id).sort();
    const groupOf = (ctx: Awaited<ReturnType<typeof buildStoryContext>>, id: string) => ctx.memories.find((m) => m.id === id)?.duplicateGroup;

    const before = await buildStoryContext(em(), await em().findOneOrFail(Chest, chest.id));
    expect(ids(before)).toEqual([pierMine.id, pierAnns.id, gardenMine.id, gardenAnns.id].sort());
    // The same bytes from the family and a guest: one picture, told once.
    expect(groupOf(before, pierAnns.id)).toBe(groupOf(before, pierMine.id));
    expect(groupOf(before, pierMine.id)).toBeDefined();
    // The garden copies carry two people's captions: a story tells each person's words (the story rule), so they stay two.
    expect(groupOf(before, gardenAnns.id)).toBeUndefined();

    // The owner merges them anyway: both captions on the kept memory, the guest's copy in the bin.
    const actorEm = em();
    await resolveDuplicates(actorEm, createActor(actorEm, owner.id), { keepAssetId: gardenMine.id, duplicateAssetIds: [gardenAnns.id] }, new InProcessEventBus());
    const after = await buildStoryContext(em(), await em().findOneOrFail(Chest, chest.id));
    expect(ids(after)).toEqual([pierMine.id, pierAnns.id, gardenMine.id].sort());
    expect(after.memories.find((m) => m.id === gardenMine.id)?.caption).toBe(['The school garden', 'Mrs Ellis and the beans'].join(CAPTION_JOIN));
    // The unresolved exact pair is still told once.
    expect(groupOf(after, pierAnns.id)).toBe(groupOf(after, pierMine.id));
  });
});
