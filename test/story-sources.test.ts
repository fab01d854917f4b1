import type { EntityManager } from '@mikro-orm/postgresql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoryDraft } from '../src/ai/ai.port.js';
import { writeExtractiveStory } from '../src/ai/local/extractive-story.js';
import { storyContextJson } from '../src/ai/openai.provider.js';
import { validateCitations } from '../src/domain/story/citations.js';
import { type Asset, Chest, Story } from '../src/db/entities/index.js';
import { ContributionStatus, ProcessingStatus, StoryStyle, TagSource } from '../src/db/enums.js';
import { createActor } from '../src/domain/actor.js';
import { buildStoryContext } from '../src/domain/story/story-context.js';
import { generateStory } from '../src/domain/story/story.service.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest, makeContribution } from './support/factories.js';
import { rejection } from './support/rejection.js';

/**
 * What a story may draw on, on a real Postgres: only the chest's own live, processed, visible
 * memories, with the place in the family's words and never the coordinates.
 */

const GPS = { latitude: 54.486_123, longitude: -0.615_987, altitude: 12.5, placeName: 'Home' };

/** A queue that records what would be enqueued; generateStory must not enqueue when it refuses. */
function recordingQueue(): JobQueue & { enqueued: unknown[] } {
  const enqueued: unknown[] = [];
  return {
    enqueued,
    backend: 'pg-boss',
    enqueue: async (_tx, queue, data) => {
      enqueued.push({ queue, data });
      return `job-${enqueued.length}`;
    },
  } as JobQueue & { enqueued: unknown[] };
}

describe('the memories a story draws on', () => {
  let db: TestDatabase;
  let ownerId: string;
  let chest: Chest;
  let empty: Chest;
  let photo: Asset;
  let others: Record<'deleted' | 'pending' | 'unprocessed' | 'failed' | 'rejected' | 'otherChest', Asset>;
  const em = (): EntityManager => db.orm.em.fork();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const e = em();
    const owner = (await makeAccount(e)).account;
    ownerId = owner.id;
    chest = await makeChest(e, { personName: 'Rose Ellis', birthDate: '1931-03-03' }, owner);
    const done = { status: ProcessingStatus.COMPLETE };
    photo = await makeAsset(e, chest, {
      ...done,
      filename: '12_rue_lepic_front_door.jpg',
      caption: 'Rose on the pier with Anna',
      place: 'Whitby',
      location: { ...GPS },
      dateTaken: new Date('1962-06-01T10:00:00Z'),
      tags: [
        { name: 'sea', source: TagSource.AI, confidence: 0.8 },
        { name: 'holiday', source: TagSource.USER, confidence: 1 },
      ],
    });
    const pending = await makeContribution(e, chest, { status: ContributionStatus.PENDING, contributorName: 'A neighbour' });
    const rejected = await makeContribution(e, chest, { status: ContributionStatus.REJECTED });
    const elsewhere = await makeChest(e, { personName: 'Someone Else' }, owner);
    others = {
      deleted: await makeAsset(e, chest, { ...done, caption: 'Deleted', deletedAt: new Date() }),
      pending: await makeAsset(e, chest, { ...done, caption: 'Sent by a guest, not approved', contribution: pending }),
      unprocessed: await makeAsset(e, chest, { status: ProcessingStatus.PENDING, caption: 'Not processed yet' }),
      failed: await makeAsset(e, chest, { status: ProcessingStatus.FAILED, caption: 'Processing failed' }),
      rejected: await makeAsset(e, chest, { ...done, caption: 'Rejected', contribution: rejected }),
      otherChest: await makeAsset(e, elsewhere, { ...done, caption: 'Another person entirely' }),
    };
    // A chest whose only memories are pending, unprocessed or deleted.
    empty = await makeChest(e, { personName: 'Nobody Yet' }, owner);
    const guest = await makeContribution(e, empty, { status: ContributionStatus.PENDING });
    await makeAsset(e, empty, { ...done, contribution: guest });
    await makeAsset(e, empty, { status: ProcessingStatus.PENDING });
    await makeAsset(e, empty, { status: ProcessingStatus.PROCESSING });
    await makeAsset(e, empty, { ...done, deletedAt: new Date() });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('buildStoryContext holds only the processed, visible, live memory of this chest', async () => {
    const e = em();
    const context = await buildStoryContext(e, await e.findOneOrFail(Chest, chest.id));
    expect(context.person).toEqual({ name: 'Rose Ellis', birthDate: '1931-03-03', passingDate: null, description: null });
    expect(context.memories).toEqual([
      {
        id: photo.id,
        kind: 'IMAGE',
        title: 'Photo',
        date: '1962-06-01',
        caption: 'Rose on the pier with Anna',
        place: 'Whitby',
        tags: ['holiday', 'sea'],
        ownTags: ['holiday'],
        transcript: null,
        roughTranscript: false,
        text: null,
        contributor: null,
        relationship: null,
      },
    ]);
  });

  it('passes the place in words and never the coordinates, to either writer', async () => {
    const e = em();
    const context = await buildStoryContext(e, await e.findOneOrFail(Chest, chest.id));
    const prompt = storyContextJson(context);
    expect(JSON.parse(prompt).memories[0]).toMatchObject({ id: photo.id, place: 'Whitby' });
    for (const text of [JSON.stringify(context), prompt]) {
      expect(text).not.toMatch(/latitude|longitude|altitude|54\.48|0\.61|"Home"/);
      expect(text).not.toContain(photo.storageKey);
      // File names reach non-members only where owners allow it; a published story reaches them.
      expect(text).not.toMatch(/lepic|front.door/i);
    }
    const draft = writeExtractiveStory(context, { style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true });
    expect(draft.timeline[0]).toMatchObject({ date: '1962-06-01', title: 'Rose on the pier with Anna at Whitby', assetIds: [photo.id] });
    expect(draft.paragraphs.map((p) => p.text).join(' ')).toContain('On 1 June 1962 at Whitby, a photo: Rose on the pier with Anna.');
    expect(JSON.stringify(draft)).not.toMatch(/54\.48|0\.61|lepic|front.door/i);
  });

  it('validateCitations against that context removes every other id, the real other-chest id included', async () => {
    const e = em();
    const context = await buildStoryContext(e, await e.findOneOrFail(Chest, chest.id));
    const allowed = new Set(context.memories.map((m) => m.id));
    const foreign = Object.values(others).map((a) => a.id);
    const draft: StoryDraft = {
      provider: 'test',
      model: 'test',
      title: 'Rose',
      paragraphs: [
        { text: 'On the pier.', assetIds: [photo.id, ...foreign] },
        { text: 'What the guest sent.', assetIds: [others.pending.id] },
        { text: 'Someone else’s life.', assetIds: [others.otherChest.id] },
      ],
      timeline: [
        { date: '1962-06-01', title: 'The pier', description: null, assetIds: [others.deleted.id, photo.id] },
        { date: '1970', title: 'Not processed', description: null, assetIds: [others.unprocessed.id, others.failed.id] },
      ],
      themes: [{ name: 'Another chest', description: null, assetIds: [others.otherChest.id, others.rejected.id] }],
    };
    const { draft: cited, report } = validateCitations(draft, allowed);
    // Ids removed: 6 + 1 + 1 from the paragraphs, 1 + 2 from the timeline, 2 from the theme.
    expect(cited.paragraphs).toEqual([{ text: 'On the pier.', assetIds: [photo.id] }]);
    expect(cited.timeline).toEqual([{ date: '1962-06-01', title: 'The pier', description: null, assetIds: [photo.id] }]);
    expect(cited.themes).toEqual([]);
    expect(report).toEqual({ droppedParagraphs: 2, droppedTimelineEntries: 1, droppedThemes: 1, removedIds: 13 });
    const everyCited = [...cited.paragraphs, ...cited.timeline, ...cited.themes].flatMap((item) => item.assetIds);
    for (const id of foreign) expect(everyCited).not.toContain(id);
  });

  it('generateStory refuses a chest whose only memories are pending, unprocessed or deleted, and queues nothing', async () => {
    const e = em();
    const queue = recordingQueue();
    const input = { chestId: empty.id, style: StoryStyle.BRIEF, includeTimeline: true, includeThemes: true };
    const err = await rejection(generateStory(e, createActor(e, ownerId), input, queue));
    expect(err).toMatchObject({ code: 'BAD_USER_INPUT', field: 'chestId' });
    expect(queue.enqueued).toEqual([]);
    expect(await em().count(Story, { chest: empty.id })).toBe(0);
  });

  it('generateStory accepts the chest with one processed memory (the control)', async () => {
    const e = em();
    const queue = recordingQueue();
    const story = await generateStory(e, createActor(e, ownerId), { chestId: chest.id, style: StoryStyle.BRIEF, includeTimeline: true, includeThemes: true }, queue);
    expect(queue.enqueued).toEqual([{ queue: 'story.generate', data: { storyId: story.id } }]);
    expect(await em().count(Story, { chest: chest.id })).toBe(1);
  });
});
