import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../../src/ai/ai.registry.js';
import { Chest, Story } from '../../src/db/entities/index.js';
import { FileType, ProcessingStatus, StoryStatus, StoryStyle } from '../../src/db/enums.js';
import { type StoryProgressSignal, writeStory } from '../../src/domain/story/story.service.js';
import { topics } from '../../src/events/events.port.js';
import { PostgresEventBus } from '../../src/events/postgres.events.js';
import { apiClient, type GqlResponse } from '../support/client.js';
import { makeAsset, makeStory } from '../support/factories.js';
import { startTestServer, type TestServer } from '../support/server.js';

interface Progress {
  storyProgress: { status: 'GENERATING' | 'READY' | 'FAILED'; narrative: string; error: string | null };
}
const PROGRESS = `subscription($s: ID!) { storyProgress(storyId: $s) { status narrative error } }`;
const STORY = `query($s: ID!) { story(id: $s) { status content paragraphs { text } } }`;

/**
 * The local writer is synchronous: it hands over the book a paragraph at a time within
 * milliseconds. A real graphql-ws storyProgress subscriber on the served app (PostgreSQL event
 * bus) still sees every paragraph arrive, in order, each narrative a prefix of the next.
 */
describe('storyProgress with the local writer, paragraph by paragraph', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let token: string;
  let chestId: string;
  let ai: Ai;
  // The worker's side, in this process: its own LISTEN/NOTIFY bus on the app's database.
  let bus: PostgresEventBus;

  beforeAll(async () => {
    server = await startTestServer({ AI_PROVIDERS: 'local' });
    ai = createAi(server.config.ai);
    bus = new PostgresEventBus(server.db.url, pino({ level: 'silent' }));
    await bus.start();
    api = apiClient(server.app.url());
    token = await api.signUp('edith.progress@example.com');
    chestId = await api.createChest(token);
    const { updateChest } = await api.must(
      `mutation($c: ID!) { updateChest(id: $c, input: { personName: "Edith Moore", birthDate: "1930-02-01", passingDate: "2010-06-30" }) { id } }`,
      { c: chestId },
      token,
    );
    expect(updateChest.id).toBe(chestId);
    const em = server.db.orm.em.fork();
    const chest = em.getReference(Chest, chestId);
    const done = { status: ProcessingStatus.COMPLETE };
    // Memories across five decades, a letter and one after the passing: a book of several chapters.
    for (const [date, caption, place] of [
      ['1952-06-01', 'Edith at the seaside with her sister', 'Filey'],
      ['1958-09-12', 'Edith on her first day teaching', 'the village school'],
      ['1964-04-20', 'Edith and Arthur on their wedding day', "St Mary's"],
      ['1971-08-03', 'The whole family on the allotment', 'the allotment'],
      ['1983-12-25', 'Christmas dinner at the farmhouse', 'the farmhouse'],
      ['1996-05-17', 'Edith with her prize roses', 'the village show'],
      ['2012-06-30', 'Planting roses on her birthday', 'the garden'],
    ]) await makeAsset(em, chest, { ...done, dateTaken: new Date(`${date}T12:00:00Z`), caption: caption!, place: place! });
    await makeAsset(em, chest, {
      ...done,
      fileType: FileType.DOCUMENT,
      mimeType: 'application/pdf',
      dateTaken: new Date('1975-02-14'),
      extractedText: 'Dear Edith, the garden is waiting for you and so am I. With love, Arthur',
    });
  }, 120_000);
  afterAll(async () => {
    await bus?.close();
    await ai?.close();
    await server?.stop();
  });

  it('a subscriber sees one growing narrative per paragraph, then READY with the stored content', { timeout: 60_000 }, async () => {
    const em = server.db.orm.em.fork();
    const story = await makeStory(em, await em.findOneOrFail(Chest, chestId), { status: StoryStatus.GENERATING, style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true });
    const ws = api.ws(token);
    try {
      const progress = api.collect<Progress>(ws, PROGRESS, { s: story.id }, (all) => all.some((r) => r.data?.storyProgress.status !== 'GENERATING'));
      // The subscription listens once its first event (the story as it stands: nothing yet) is here.
      for (let i = 0; progress.results.length === 0; i++) {
        if (i > 500) throw new Error('no first storyProgress event');
        await new Promise((r) => setTimeout(r, 20));
      }
      // What every subscriber is woken by, as the worker's bus publishes it.
      const feed = bus.subscribe<StoryProgressSignal>(topics.story(story.id));
      const signals: StoryProgressSignal[] = [];
      const reading = (async () => {
        for await (const s of feed) {
          signals.push(s);
          if (s.status !== StoryStatus.GENERATING) break;
        }
      })();
      await writeStory({ orm: server.db.orm, events: bus, log: pino({ level: 'silent' }), ai }, { id: 'job-local-progress', data: { storyId: story.id }, attempt: 1, signal: new AbortController().signal });
      const seen = (await progress.done).map((r: GqlResponse<Progress>) => {
        if (!r.data) throw new Error(`subscription error: ${JSON.stringify(r.errors)}`);
        return r.data.storyProgress;
      });
      await reading;

      const stored = (await api.must(STORY, { s: story.id }, token)).story as { status: string; content: string; paragraphs: { text: string }[] };
      const row = await server.db.orm.em.fork().findOneOrFail(Story, { id: story.id });
      expect(stored.status).toBe('READY');
      expect(stored.content).toBe(row.content);
      const paragraphs = stored.paragraphs.length;
      expect(paragraphs).toBeGreaterThanOrEqual(4);

      expect(seen[0]).toEqual({ status: 'GENERATING', narrative: '', error: null });
      expect(seen.at(-1)).toEqual({ status: 'READY', narrative: stored.content, error: null });
      const narratives = seen.slice(1, -1).map((e) => {
        expect(e).toMatchObject({ status: 'GENERATING', error: null });
        return e.narrative;
      });
      // One narrative per paragraph, each one more paragraph than the last and a prefix of the next.
      expect(narratives).toHaveLength(paragraphs);
      for (const [i, n] of narratives.entries()) {
        expect(n.split('\n\n')).toHaveLength(i + 1);
        const next = narratives[i + 1] ?? stored.content;
        expect(next.startsWith(n)).toBe(true);
      }
      expect(narratives.at(-1)).toBe(stored.content);

      // One signal per paragraph stored, then READY.
      expect(signals.filter((s) => s.status === StoryStatus.GENERATING)).toHaveLength(paragraphs);
      expect(signals.map((s) => s.length)).toEqual([...narratives.map((n) => n.length), stored.content.length]);
      expect(signals.at(-1)).toMatchObject({ status: StoryStatus.READY });
    } finally {
      await ws.dispose();
    }
  });
});
