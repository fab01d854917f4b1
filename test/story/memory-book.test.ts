import type { EntityManager } from '@mikro-orm/postgresql';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../../src/ai/ai.registry.js';
import { loadConfig } from '../../src/config.js';
import { type Asset, Chest, Story } from '../../src/db/entities/index.js';
import { ContributionStatus, FileType, ProcessingStatus, StoryStatus, StoryStyle, TagSource } from '../../src/db/enums.js';
import { buildStoryContext } from '../../src/domain/story/story-context.js';
import { writeStory } from '../../src/domain/story/story.service.js';
import { topics } from '../../src/events/events.port.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest, makeContribution, makeStory } from '../support/factories.js';
import { makeFace, makePerson } from '../support/people.js';

/**
 * The "Done when" of issue 13: a chest like a real family's, written by the local provider through
 * writeStory on real PostgreSQL, and the book read as a family would.
 */

const GPS = { latitude: 54.486_123, longitude: -0.615_987 };
const done = { status: ProcessingStatus.COMPLETE, location: GPS };

// People's own words, as they stand in the memories.
const TOM_LETTER = 'Dear Rose,\nThe boat came in late again and I thought of you the whole way home.\nTell the children I will bring them shells. With all my love, Tom';
const TOM_QUOTE = 'The boat came in late again and I thought of you the whole way home.';
const ANN_LETTER = 'Dear Mum, the parcel came on Tuesday.\nRose, you always knew what we needed before we did. The children ask about your garden every day.';
const ANN_QUOTE = 'Rose, you always knew what we needed before we did.';
const TRANSCRIPT = 'Rose always said the garden was her second classroom. She knew the name of every bird that came to the feeder.';
const MARY = 'Rose brought us soup every Sunday the year my husband was ill. She never once let us pay her back.';
const PETER = 'Mrs Baker taught me to read. I still hear her voice when I open a book.';
// Two letters from Joan, photographed on one table: white pages, perceptual hashes two bits apart.
const JAM = 'Dear Rose,\nThank you for the jam, it tasted of your garden.\nYour sister, Joan';
const ROOF = 'Dear Rose,\nThe new roof on the school is finally on and the children cheered.\nLove, Joan';

/**
 * The excerpt docs/stories.md shows (its first paragraph, the 1960s, the 1970s and the remembrance),
 * word for word: a change in the book changes this test and docs/stories.md together.
 */
const README_EXCERPT = [
  'Rose Baker was born on 3 March 1931. Rose taught at the village school for thirty years. **The 1950s.** On 10 May 1952, a letter. It reads: “Dear Rose, The boat came in late again and I thought of you the whole way home.”',
  "**The 1960s: Whitby and St Mary's, with Tom and Ann.** On 1 June 1962 at Whitby, two photos with Tom and Ann: Rose on the pier; Fish and chips on the harbour wall. On 20 August 1968 at St Mary's, a photo with Tom: Rose and Tom on their wedding day.",
  '**The 1970s: the school garden, with Ann.** On 1 September 1974, a letter. It reads: “Rose, you always knew what we needed before we did.” On 14 July 1975 at the school garden, a photo with Ann: Rose with her class planting beans.',
  "**Remembering Rose.** After Rose died, the family went on keeping memories. On 3 March 2020 at Whitby harbour, two photos with Tom and Ann: Together at the harbour on her birthday. Mary Jones, Rose's neighbour, remembers: “Rose brought us soup every Sunday the year my husband was ill. She never once let us pay her back.” Peter Hall, Rose's former pupil, remembers: “Mrs Baker taught me to read. I still hear her voice when I open a book.”",
];

const COLOUR_OR_TONE = /\b(?:red|orange|yellow|green|teal|blue|purple|pink|brown|black|white|grey|gray|sepia|monochrome|mostly|toned?|bright|dark|winter|spring|summer|autumn|portrait|landscape|panoramic|wine glass)\b/i;
const STOP_WORDS = new Set(
  `a about after again all also am an and any are as at be because been before being but by can could dear did do does
  done down each even ever every few for found from full get got had has have he her here him his how i if in into is it
  its just know like made make many me more most much my never no not now of off on once one only or other our out over
  own said same see she should so some still such than thank thanks that the their them then there these they this those
  through to too under until up very was we well were what when where which while who why will with would you your`.split(/\s+/),
);

describe('the memory book the local writer makes of a family chest', () => {
  let db: TestDatabase;
  let ai: Ai;
  const events = new InProcessEventBus();
  let chest: Chest;
  const ids: Record<string, string> = {};
  let copies: Asset[];

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ai = createAi(loadConfig({ DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET_KEY }).ai);
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    chest = await makeChest(em, { personName: 'Rose Baker', birthDate: '1931-03-03', passingDate: '2019-11-12', description: 'Rose taught at the village school for thirty years.' }, account);
    const tom = await makePerson(em, chest, { name: 'Tom' });
    const ann = await makePerson(em, chest, { name: 'Ann' });
    // Faces left to right in the order given: the book names them so.
    const named = async (asset: Asset, people: typeof tom[]) => {
      for (const [i, person] of people.entries()) await makeFace(em, asset, person, { box: { x: 0.1 + 0.3 * i, y: 0.3, width: 0.2, height: 0.25 } });
      return asset;
    };
    const letter = (date: string, text: string) => makeAsset(em, chest, { ...done, fileType: FileType.DOCUMENT, mimeType: 'application/pdf', dateTaken: new Date(date), extractedText: text });

    ids.tomLetter = (await letter('1952-05-10', TOM_LETTER)).id;
    ids.pier = (await named(await makeAsset(em, chest, { ...done, dateTaken: new Date('1962-06-01T10:00:00Z'), place: 'Whitby', caption: 'Rose on the pier' }), [tom, ann])).id;
    // The same day and place: one event.
    ids.chips = (await named(await makeAsset(em, chest, { ...done, dateTaken: new Date('1962-06-01T13:00:00Z'), place: 'Whitby', caption: 'Fish and chips on the harbour wall' }), [tom])).id;
    // Three copies of the wedding photo: the family's scan, a phone photo of it, an undated re-upload.
    copies = [
      await makeAsset(em, chest, { ...done, dateTaken: new Date('1968-08-20'), caption: 'Rose and Tom on their wedding day', place: "St Mary's", perceptualHash: 'a5c3f00f0ff0c35a' }),
      await makeAsset(em, chest, { ...done, dateTaken: new Date('1968-08-20'), perceptualHash: 'a5c3f00f0ff0c35b' }),
      await makeAsset(em, chest, { ...done, perceptualHash: 'a5c3f00f0ff0c35e', caption: 'Our wedding day' }),
    ];
    for (const copy of copies) await named(copy, [tom]);
    ids.annLetter = (await letter('1974-09-01', ANN_LETTER)).id;
    ids.school = (await named(await makeAsset(em, chest, { ...done, dateTaken: new Date('1975-07-14'), place: 'the school garden', caption: 'Rose with her class planting beans' }), [ann])).id;
    // A caption the local describer composed, and the pixel tags of the older describer: weak material.
    const machine = 'People with a wine glass, August 1988.';
    ids.machine = (
      await makeAsset(em, chest, {
        ...done,
        dateTaken: new Date('1988-08-06'),
        caption: machine,
        tags: ['blue', 'summer', 'landscape', '1980s'].map((name) => ({ name, source: TagSource.AI, confidence: 0.9 })),
        analyses: [{ task: 'describeImage', status: 'DONE', provider: 'local', model: 'ssd', error: null, at: new Date(), caption: machine, composedFrom: { by: 'local', objects: [{ label: 'wine glass', count: 1 }] } }],
      })
    ).id;
    ids.recording = (
      await makeAsset(em, chest, {
        ...done,
        fileType: FileType.AUDIO,
        mimeType: 'audio/mp4',
        dateTaken: new Date('1995-12-25'),
        transcription: { text: TRANSCRIPT, language: 'en', segments: [], rough: false, confidence: null },
      })
    ).id;
    ids.jam = (await makeAsset(em, chest, { ...done, dateTaken: new Date('1981-02-14'), extractedText: JAM, perceptualHash: '0000000000000000' })).id;
    ids.roof = (await makeAsset(em, chest, { ...done, dateTaken: new Date('1983-05-01'), extractedText: ROOF, perceptualHash: '0000000000000003' })).id;
    const mary = await makeContribution(em, chest, { status: ContributionStatus.APPROVED, contributorName: 'Mary Jones', relationship: 'neighbour', message: MARY });
    ids.mary = (await makeAsset(em, chest, { ...done, contribution: mary, dateTaken: new Date('1990-04-02'), caption: 'Sunday lunch next door' })).id;
    const peter = await makeContribution(em, chest, { status: ContributionStatus.APPROVED, contributorName: 'Peter Hall', relationship: 'former pupil', message: PETER });
    ids.peter = (await makeAsset(em, chest, { ...done, contribution: peter })).id;
    // After the passing: the family at the harbour on her birthday.
    ids.after1 = (await named(await makeAsset(em, chest, { ...done, dateTaken: new Date('2020-03-03T11:00:00Z'), place: 'Whitby harbour', caption: 'Together at the harbour on her birthday' }), [tom, ann])).id;
    ids.after2 = (await makeAsset(em, chest, { ...done, dateTaken: new Date('2020-03-03T11:05:00Z'), place: 'Whitby harbour' })).id;
  });
  afterAll(async () => {
    await ai?.close();
    await db?.close();
  });

  async function book(style: StoryStyle): Promise<{ story: Story; signals: number }> {
    const em = db.orm.em.fork();
    const story = await makeStory(em, await em.findOneOrFail(Chest, chest.id), { status: StoryStatus.GENERATING, style, includeThemes: true, includeTimeline: true });
    // What storyProgress is woken by: one signal per stored step of the narrative.
    const feed = events.subscribe<{ status: StoryStatus; length: number }>(topics.story(story.id));
    const lengths: number[] = [];
    const reading = (async () => {
      for await (const s of feed) {
        if (s.status !== StoryStatus.GENERATING) break;
        lengths.push(s.length);
      }
    })();
    await writeStory({ orm: db.orm, events, log: pino({ level: 'silent' }), ai }, { id: `job-${style}`, data: { storyId: story.id }, attempt: 1, signal: new AbortController().signal });
    await Promise.race([reading, new Promise((r) => setTimeout(r, 2000))]);
    await feed.return?.();
    expect([...lengths].sort((a, b) => a - b)).toEqual(lengths);
    return { story: await db.orm.em.fork().findOneOrFail(Story, { id: story.id }), signals: lengths.length };
  }

  it('the context knows the copies, the machine caption, the messages and what came after the passing', async () => {
    const em: EntityManager = db.orm.em.fork();
    const context = await buildStoryContext(em, chest);
    const byId = new Map(context.memories.map((m) => [m.id, m]));
    expect(new Set(copies.map((c) => byId.get(c.id)!.duplicateGroup))).toEqual(new Set([copies[0]!.id]));
    expect(byId.get(ids.pier!)!.duplicateGroup).toBeUndefined();
    // Two different letters that look alike are not copies.
    expect(byId.get(ids.jam!)!.duplicateGroup).toBeUndefined();
    expect(byId.get(ids.roof!)!.duplicateGroup).toBeUndefined();
    expect(byId.get(ids.machine!)).toMatchObject({ machineCaption: true, objects: ['wine glass'] });
    expect(byId.get(ids.pier!)!.machineCaption).toBeUndefined();
    expect(byId.get(ids.mary!)!.contribution).toMatchObject({ message: MARY });
    expect(context.memories.filter((m) => m.afterPassing).map((m) => m.id).sort()).toEqual([ids.after1, ids.after2].sort());
    expect(JSON.stringify(context)).not.toMatch(/54\.48|0\.61|latitude/);
  });

  it('COMPREHENSIVE: a chronological book of their words, with a remembrance, streamed paragraph by paragraph', { timeout: 60_000 }, async () => {
    const { story, signals } = await book(StoryStyle.COMPREHENSIVE);
    expect(story.status).toBe(StoryStatus.READY);
    const text = story.content!;
    if (process.env.PRINT_BOOK) console.log(`${story.title}\n\n${text}\n\n${JSON.stringify(story.themes)}`);
    const cites = (words: string, id: string) => story.paragraphs.some((p) => p.text.includes(`“${words}`) && p.assetIds.includes(id));
    // At least three people's words, verbatim and cited: Tom's and Ann's letters, the recording, two guests.
    const quoted = [
      [TOM_QUOTE, ids.tomLetter],
      [ANN_QUOTE, ids.annLetter],
      ['Rose always said the garden was her second classroom.', ids.recording],
      [MARY, ids.mary],
      [PETER, ids.peter],
    ].filter(([words, id]) => cites(words!, id!));
    expect(quoted.length).toBeGreaterThanOrEqual(3);
    expect(cites(MARY, ids.mary!) && cites(PETER, ids.peter!)).toBe(true);
    // Ann's letter is quoted by its sentence about Rose, not by its first line.
    expect(cites(ANN_QUOTE, ids.annLetter!)).toBe(true);
    // Joan's two letters, photographed alike, are two memories, each quoted.
    expect(cites('Dear Rose, Thank you for the jam, it tasted of your garden.', ids.jam!)).toBe(true);
    expect(cites('Dear Rose, The new roof on the school is finally on and the children cheered.', ids.roof!)).toBe(true);
    // People named in photos (left to right, first seen first) on the 1962 event itself; places people typed.
    const whitby = story.paragraphs.find((p) => p.text.includes('Rose on the pier'))!;
    expect(whitby.text).toContain('On 1 June 1962 at Whitby, two photos with Tom and Ann: Rose on the pier; Fish and chips on the harbour wall.');
    expect(whitby.assetIds).toEqual(expect.arrayContaining([ids.pier, ids.chips]));
    // docs/stories.md's excerpt, word for word.
    for (const paragraph of README_EXCERPT) expect(story.paragraphs.map((p) => p.text)).toContain(paragraph);

    const everything = JSON.stringify([story.title, story.content, story.paragraphs, story.timeline, story.themes]);
    expect(everything).not.toMatch(COLOUR_OR_TONE);
    expect(everything).not.toMatch(/54\.48|0\.61|latitude|longitude/);
    // The wedding photo, three copies, once; the copies are cited where it is told.
    expect(text.match(/wedding day/g)).toHaveLength(1);
    const wedding = story.paragraphs.find((p) => p.text.includes('wedding day'))!;
    for (const copy of copies) expect(wedding.assetIds).toContain(copy.id);
    // The pier and the chips on one day at Whitby are one event.
    expect(text.match(/1 June 1962/g)).toHaveLength(1);
    // The copies are one entry of the timeline, citing all three.
    const weddings = story.timeline.filter((t) => t.assetIds.some((id) => copies.some((c) => c.id === id)));
    expect(weddings).toHaveLength(1);
    expect(weddings[0]).toMatchObject({ date: '1968-08-20', title: "Rose and Tom on their wedding day at St Mary's" });
    expect([...weddings[0]!.assetIds].sort()).toEqual(copies.map((c) => c.id).sort());

    // Chronological: birth, the life's memories in order, the passing, then the remembrance.
    const order = ['born on 3 March 1931', TOM_QUOTE, 'Rose on the pier', 'wedding day', 'planting beans', 'second classroom', 'died on 12 November 2019', 'on her birthday'];
    const at = order.map((s) => text.indexOf(s));
    expect(at.every((i) => i >= 0), JSON.stringify(at)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    const remembrance = story.paragraphs.find((p) => p.text.includes('Remembering Rose'))!;
    expect(remembrance.text).toContain('After Rose died');
    expect(remembrance.assetIds).toEqual(expect.arrayContaining([ids.after1, ids.after2, ids.mary, ids.peter]));
    expect(story.timeline.map((t) => t.date)).toEqual([...story.timeline.map((t) => t.date)].sort());

    // Themes from people's words, each on two occasions or more (a day and place is one), never a stop word.
    expect(story.themes.length).toBeGreaterThan(0);
    const occasion = (id: string) => (id === ids.chips ? ids.pier : id === ids.after2 ? ids.after1 : copies.some((c) => c.id === id) ? 'wedding' : id);
    for (const theme of story.themes) {
      expect(theme.name.toLowerCase().split(' ').some((w) => STOP_WORDS.has(w)), theme.name).toBe(false);
      expect(new Set(theme.assetIds.map(occasion)).size, theme.name).toBeGreaterThanOrEqual(2);
    }
    expect(story.themes.map((t) => t.name)).toEqual(expect.arrayContaining(['garden', 'harbour']));
    for (const p of story.paragraphs) expect(p.assetIds.length).toBeGreaterThan(0);
    // storyProgress was woken as the book grew, not once at the end.
    expect(story.paragraphs.length).toBeGreaterThan(3);
    expect(signals).toBeGreaterThan(1);
  });

  it('BRIEF: one page', { timeout: 60_000 }, async () => {
    const { story } = await book(StoryStyle.BRIEF);
    if (process.env.PRINT_BOOK) console.log(story.content);
    expect(story.content!.split(/\s+/).length).toBeLessThanOrEqual(300);
    expect(story.paragraphs.length).toBeLessThanOrEqual(2);
    expect(story.content).not.toMatch(COLOUR_OR_TONE);
    expect(story.content).toMatch(/“/);
  });

  it('FOR_CHILDREN: short sentences, years and nothing denser', { timeout: 60_000 }, async () => {
    const { story } = await book(StoryStyle.FOR_CHILDREN);
    if (process.env.PRINT_BOOK) console.log(story.content);
    const everything = JSON.stringify([story.content, story.timeline.map((t) => [t.date, t.title, t.description])]);
    expect(everything).not.toMatch(/January|February|March|April|May|June|July|August|September|October|November|December|\d{4}-\d{2}/);
    for (const sentence of story.content!.replace(/“[^”]*”/g, 'Q.').split(/(?<=[.!?:])\s+/)) expect(sentence.split(' ').length, sentence).toBeLessThanOrEqual(16);
    expect(story.content).toContain('1962');
  });

  it('EULOGY: spoken, to her, in about three minutes', { timeout: 60_000 }, async () => {
    const { story } = await book(StoryStyle.EULOGY);
    if (process.env.PRINT_BOOK) console.log(story.content);
    const words = story.content!.split(/\s+/).length;
    // About three minutes read aloud: at most 430 words, as docs/stories.md says.
    expect(words).toBeLessThanOrEqual(430);
    expect(words).toBeGreaterThan(100);
    expect(story.content).toMatch(/\byou\b/);
    expect(story.content).toMatch(/^We are here to remember Rose Baker/);
    expect(story.content).not.toMatch(COLOUR_OR_TONE);
  });
});
