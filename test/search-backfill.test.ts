import { describe, expect, it } from 'vitest';
import { migrationsList } from '../migrations/index.js';
import { migrate } from '../src/db/orm.js';
import { ContributionStatus, ProcessingStatus, StoryStatus, TagSource } from '../src/db/enums.js';
import { indexStoriesNotIndexed } from '../src/domain/search/story-entries.js';
import { createTestDatabase } from './support/db.js';
import { makeAsset, makeChest, makeContribution, makeStory } from './support/factories.js';
import { makePerson } from './support/people.js';

/**
 * What existed before search: the migration indexes chests, memories, people and contributions
 * as they are; stories (indexed as read, hidden names rewritten) are indexed when the worker
 * starts (indexStoriesNotIndexed), once.
 */
describe('search over what existed before it', () => {
  it('the migration indexes existing rows, the worker start indexes existing stories', async () => {
    const db = await createTestDatabase('postgres');
    try {
      const em = db.orm.em.fork();
      const chest = await makeChest(em, { personName: 'Rose Ellis', description: 'Kept bees' });
      const asset = await makeAsset(em, chest, {
        status: ProcessingStatus.COMPLETE,
        caption: 'The hives',
        place: 'Whitby',
        tags: [{ name: 'garden', source: TagSource.USER, confidence: 1 }],
        transcription: { text: 'one two', language: 'en', rough: true, segments: [{ start: 1.5, end: 2, text: 'one two' }] },
      });
      const person = await makePerson(em, chest, { name: 'Tom Baker', hidden: true });
      const contribution = await makeContribution(em, chest, { message: 'Honey every autumn', status: ContributionStatus.APPROVED });
      const story = await makeStory(em, chest, { status: StoryStatus.READY, title: 'Bees', content: 'Tom Baker helped with the hives.' });
      // Back to before search (its table and triggers gone), and up again.
      const before = migrationsList.findIndex((m) => m.name === 'Migration20261203180611_search_entries') - 1;
      await db.orm.migrator.down({ to: migrationsList[before]!.name });
      expect(await em.execute(`select to_regclass('search_entry') as t`)).toEqual([{ t: null }]);
      await migrate(db.orm);

      const rows = await em.execute<{ field: string; text: string; at_seconds: number | null; ref: string }[]>(
        `select field, text, at_seconds, coalesce(asset_id, person_id, contribution_id, story_id, chest_id)::text as ref from search_entry where chest_id = ? order by field, text`,
        [chest.id],
      );
      expect(rows).toEqual([
        { field: 'CAPTION', text: 'The hives', at_seconds: null, ref: asset.id },
        { field: 'CHEST_DESCRIPTION', text: 'Kept bees', at_seconds: null, ref: chest.id },
        { field: 'CHEST_NAME', text: 'Rose Ellis', at_seconds: null, ref: chest.id },
        { field: 'MEMORY', text: 'The hives\nWhitby\ngarden\none two', at_seconds: null, ref: asset.id },
        { field: 'MESSAGE', text: 'Honey every autumn', at_seconds: null, ref: contribution.id },
        { field: 'PERSON', text: 'Tom Baker', at_seconds: null, ref: person.id },
        { field: 'PLACE', text: 'Whitby', at_seconds: null, ref: asset.id },
        { field: 'TAGS', text: 'garden', at_seconds: null, ref: asset.id },
        { field: 'TRANSCRIPT', text: 'one two', at_seconds: 1.5, ref: asset.id },
      ]);

      // The worker's start: the story, its hidden name rewritten; a second start finds nothing left.
      expect(await indexStoriesNotIndexed(db.orm.em.fork())).toBe(1);
      expect(await indexStoriesNotIndexed(db.orm.em.fork())).toBe(0);
      const stories = await em.execute<{ text: string }[]>(`select text from search_entry where story_id = ?`, [story.id]);
      expect(stories).toEqual([{ text: 'Bees\n\nSomeone helped with the hives.' }]);
    } finally {
      await db.close();
    }
  });
});
