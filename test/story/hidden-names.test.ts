import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../../src/ai/ai.registry.js';
import { loadConfig } from '../../src/config.js';
import { Person, Story } from '../../src/db/entities/index.js';
import { FileType, ProcessingStatus, StoryStatus, StoryStyle, TagSource } from '../../src/db/enums.js';
import { hiddenNames, nameScrubber, scrubContext } from '../../src/domain/story/hidden-names.js';
import { writeStory } from '../../src/domain/story/story.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest, makeStory } from '../support/factories.js';
import { createGraphQLRunner, ok } from '../support/graphql.js';
import { makeFace, makePerson } from '../support/people.js';

describe('hidden names: the rules', () => {
  const scrub = nameScrubber(hiddenNames({ hidden: ['Tom Baker', 'Aunt May'], shown: ['Rose Baker', 'Ann Lee'] }));

  it('rewrites whole names in any case and their own words as written', () => {
    expect(scrub('Tom Baker came to tea. We laughed with TOM BAKER and tom baker.')).toBe('Someone came to tea. We laughed with someone and someone.');
    expect(scrub("Tom's bike; later Tom left.")).toBe("Someone's bike; later someone left.");
    expect(scrub('Aunt May sang, and May danced in May.')).toBe('Someone sang, and someone danced in someone.');
  });

  it('keeps words shared with people who are shown, relations, other words and parts of words', () => {
    // "Baker" is also Rose's name: it alone does not say who is meant, and removing it would unname her.
    expect(scrub('Rose Baker and the Baker family. Tomorrow, Tomas and Aunt Ann.')).toBe('Rose Baker and the Baker family. Tomorrow, Tomas and Aunt Ann.');
    expect(scrub('a tom cat')).toBe('a tom cat');
  });

  it('never unnames the person the chest remembers, and does nothing when nobody named is hidden', () => {
    const names = hiddenNames({ hidden: ['Rose Baker'], shown: ['Rose Baker'] });
    expect(names.whole).toEqual([]);
    expect(nameScrubber(names)('Rose Baker at the pier')).toBe('Rose Baker at the pier');
  });

  it("rewrites every text of the writer's view and drops a tag that was only the name", () => {
    const out = scrubContext(
      {
        person: { name: 'Rose Baker', birthDate: null, passingDate: null, description: 'Mother of Tom Baker' },
        memories: [
          { id: 'a', kind: FileType.IMAGE, title: 'Photo', date: null, caption: 'Tom at the pier', place: "Tom's house", tags: ['Tom', 'pier', "Tom's boat"], ownTags: ['Tom', "Tom's boat"], transcript: 'Tom said hello', text: 'Dear Tom', contributor: 'Tom Baker', relationship: 'son', contribution: { id: 'c', message: 'Tom misses her' } },
        ],
      },
      scrub,
    );
    expect(JSON.stringify(out)).not.toMatch(/Tom/);
    expect(out.memories[0]!.tags).toEqual(['pier', "Someone's boat"]);
    // The tags people gave, words for the book's themes: scrubbed the same way.
    expect(out.memories[0]!.ownTags).toEqual(["Someone's boat"]);
    expect(out.person.name).toBe('Rose Baker');
  });
});

/** A family hides a living relative; the story the local writer makes from their own words never names him. */
describe('a story of a chest with a hidden person', () => {
  let db: TestDatabase;
  let ai: Ai;
  const events = new InProcessEventBus();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ai = createAi(loadConfig({ DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET_KEY }).ai);
  });
  afterAll(async () => {
    await ai?.close();
    await db?.close();
  });

  async function storyOf(hidden: boolean): Promise<{ story: Story }> {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, { personName: 'Rose Baker', description: 'Rose loved the sea. Her son Tom Baker sailed with her.' }, account);
    const done = { status: ProcessingStatus.COMPLETE };
    const photo = await makeAsset(em, chest, { ...done, dateTaken: new Date('1962-06-01'), caption: 'Tom Baker and Rose on the pier at Whitby', tags: [{ name: 'Tom', source: TagSource.USER, confidence: 1 }, { name: 'pier', source: TagSource.USER, confidence: 1 }] });
    await makeAsset(em, chest, { ...done, fileType: FileType.DOCUMENT, mimeType: 'application/pdf', dateTaken: new Date('1970-03-02'), extractedText: 'Dear Rose, Tom sends his love from the boat. The sea was calm and Tom caught three fish for supper.' });
    const tom = await makePerson(em, chest, { name: 'Tom Baker', hidden });
    await makeFace(em, photo, tom);
    const story = await makeStory(em, chest, { status: StoryStatus.GENERATING, style: StoryStyle.COMPREHENSIVE, includeThemes: true, includeTimeline: true });
    await writeStory({ orm: db.orm, events, log: pino({ level: 'silent' }), ai }, { id: 'story-job', data: { storyId: story.id }, attempt: 1, signal: new AbortController().signal });
    return { story: await db.orm.em.fork().findOneOrFail(Story, { id: story.id }) };
  }

  it('names him when he is shown, and nowhere in the story when he is hidden', { timeout: 60_000 }, async () => {
    const shown = await storyOf(false);
    expect(shown.story.status).toBe(StoryStatus.READY);
    expect(JSON.stringify([shown.story.title, shown.story.content, shown.story.paragraphs, shown.story.timeline, shown.story.themes])).toMatch(/Tom/);

    const hidden = await storyOf(true);
    expect(hidden.story.status).toBe(StoryStatus.READY);
    const everything = JSON.stringify([hidden.story.title, hidden.story.content, hidden.story.paragraphs, hidden.story.timeline, hidden.story.themes]);
    expect(everything).not.toMatch(/Tom/);
    // The story is still made of the family's words, with his name taken out.
    expect(everything).toMatch(/someone|Someone/);
    expect(everything).toMatch(/Rose/);
    expect(await db.orm.em.fork().count(Person, { hidden: true })).toBeGreaterThan(0);
  });

  it('a story written or edited before he was hidden no longer names him once he is, for every reader', { timeout: 60_000 }, async () => {
    const gql = await createGraphQLRunner(db.orm, { events });
    const em = db.orm.em.fork();
    const { account: owner, token } = await makeAccount(em);
    const chest = await makeChest(em, { personName: 'Rose Baker', isPublic: true }, owner);
    const photo = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE });
    const tom = await makePerson(em, chest, { name: 'Tom Baker' });
    await makeFace(em, photo, tom);
    const story = await makeStory(em, chest, {
      status: StoryStatus.READY,
      title: 'Rose and Tom',
      content: 'Rose sailed with Tom Baker.\n\nTom caught the fish.',
      paragraphs: [{ text: 'Rose sailed with Tom Baker.', assetIds: [photo.id] }, { text: 'Tom caught the fish.', assetIds: [photo.id] }],
      timeline: [{ date: '1962', title: 'Tom at sea', description: 'With Tom', assetIds: [photo.id] }],
      themes: [{ name: 'Tom', description: 'Days with Tom', assetIds: [photo.id] }],
    });
    ok(await gql.run(`mutation($id: ID!) { publishStory(storyId: $id) { id } }`, { id: story.id }, { token }));
    const fields = 'title content paragraphs { text } timeline { title description } themes { name description }';
    const read = async (opts: { token?: string }) =>
      JSON.stringify(ok(await gql.run(`query($s: ID!, $c: ID!) { story(id: $s) { ${fields} } chest(id: $c) { publishedStory { ${fields} } } }`, { s: story.id, c: chest.id }, opts)));
    expect(await read({ token })).toMatch(/Tom/);
    expect(await read({})).toMatch(/Tom/);

    ok(await gql.run(`mutation($id: ID!) { hidePerson(personId: $id) { hidden } }`, { id: tom.id }, { token }));
    for (const reader of [{ token }, {}]) {
      const seen = await read(reader);
      expect(seen).not.toMatch(/Tom/);
      expect(seen).toMatch(/Rose sailed with someone\./);
      expect(seen).toMatch(/Someone caught the fish\./);
    }
    // A name typed into an edit reads the same way; what is stored is what the family wrote.
    const edited = ok(await gql.run(`mutation($id: ID!) { editStory(storyId: $id, input: { content: "Tom Baker came home." }) { content } }`, { id: story.id }, { token }));
    expect(edited.editStory.content).toBe('Someone came home.');
    expect(await db.orm.em.fork().count(Story, { chest: chest.id, content: 'Tom Baker came home.' })).toBe(1);
  });
});
