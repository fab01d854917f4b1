import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../../../src/ai/ai.registry.js';
import { requestTokens } from '../../../src/ai/openai/tokens.js';
import { loadConfig } from '../../../src/config.js';
import { Story } from '../../../src/db/entities/index.js';
import { FileType, StoryStatus, StoryStyle } from '../../../src/db/enums.js';
import { writeStory } from '../../../src/domain/story/story.service.js';
import { InProcessEventBus } from '../../../src/events/in-process.events.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from '../../support/db.js';
import { type FakeOpenAi, type RecordedRequest, startFakeOpenAi } from '../../support/fake-openai.js';
import { makeAccount, makeAssets, makeChest, makeStory } from '../../support/factories.js';
import { makeFace, makePerson } from '../../support/people.js';

/**
 * The story job (writeStory) with the openai provider configured from the environment, on a
 * Postgres chest too large for AI_STORY_TOKEN_BUDGET: it is written in stages, the saved story
 * cites only the chest's memories, and a hidden person's name reaches no request and, when the
 * model writes it anyway, not the story either (writeStory's scrubDraft sees the staged book too).
 */

const BUDGET = 6_000;
let db: TestDatabase;
let fake: FakeOpenAi;
let ai: Ai;
const events = new InProcessEventBus();

beforeAll(async () => {
  db = await createTestDatabase('postgres');
  fake = await startFakeOpenAi();
  const config = loadConfig({
    DATABASE_URL: db.url,
    SECRET_KEY: TEST_SECRET_KEY,
    AI_PROVIDERS: 'openai',
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: 'sk-test',
    AI_MAX_RETRIES: '0',
    AI_STORY_TOKEN_BUDGET: String(BUDGET),
  });
  ai = createAi(config.ai);
});
afterAll(async () => {
  await ai?.close();
  await fake?.close();
  await db?.close();
});

const schemaOf = (r: RecordedRequest): string | undefined =>
  (r.body as { response_format?: { json_schema?: { name?: string } } }).response_format?.json_schema?.name;

describe('a large chest written by the openai provider in stages', () => {
  it('saves a story citing only its memories, within the budget, never naming a hidden person', { timeout: 120_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, { personName: 'Rose Baker', description: 'Rose loved the sea.' }, account);
    const assets = await makeAssets(em, chest, 300, (i) => ({
      dateTaken: new Date(Date.UTC(1940 + Math.floor(i / 5), i % 12, 1)),
      caption: i % 3 === 0 ? `Tom Baker and Rose on the pier, summer ${1940 + Math.floor(i / 5)}` : `Rose in the garden with the roses, memory ${i}`,
      ...(i % 10 === 0 ? { fileType: FileType.DOCUMENT, mimeType: 'application/pdf', extractedText: `Dear Rose, the boat is ready and Tom sends his love. ${'We sailed past the harbour wall again. '.repeat(8)}` } : {}),
    }));
    const tom = await makePerson(em, chest, { name: 'Tom Baker', hidden: true });
    await makeFace(em, assets[0]!, tom);
    const story = await makeStory(em, chest, { status: StoryStatus.GENERATING, style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true });
    // The model "guesses" his name into the book: the story must not keep it.
    fake.rewrite = (schema, content) => (schema === 'life_story' ? content.replace(/"text":"/, '"text":"Tom Baker was there. ') : content);

    await writeStory({ orm: db.orm, events, log: pino({ level: 'silent' }), ai }, { id: 'story-job', data: { storyId: story.id }, attempt: 1, signal: new AbortController().signal });

    const saved = await db.orm.em.fork().findOneOrFail(Story, { id: story.id });
    expect(saved.error).toBeNull();
    expect(saved.status).toBe(StoryStatus.READY);
    const requests = fake.requests.filter((r) => r.path === '/v1/chat/completions');
    expect(requests.filter((r) => schemaOf(r) === 'period_summary').length).toBeGreaterThan(3);
    expect(requests.filter((r) => schemaOf(r) === 'life_story')).toHaveLength(1);
    for (const request of requests) {
      expect(requestTokens(request.body as { max_tokens: number })).toBeLessThanOrEqual(BUDGET);
      expect(JSON.stringify(request.body)).not.toMatch(/Tom/);
    }

    const ids = new Set(assets.map((a) => a.id));
    const cited = [...saved.paragraphs, ...saved.timeline, ...saved.themes].flatMap((c) => c.assetIds);
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.every((id) => ids.has(id))).toBe(true);
    expect(saved.paragraphs.some((p) => p.assetIds.some((id) => assets.slice(0, 25).some((a) => a.id === id)))).toBe(true);
    const everything = JSON.stringify([saved.title, saved.content, saved.paragraphs, saved.timeline, saved.themes]);
    expect(everything).not.toMatch(/Tom/);
    expect(saved.content).toMatch(/^Someone was there\./);
    expect(saved.content).toBe(saved.paragraphs.map((p) => p.text).join('\n\n'));
    expect(saved.generation).toMatchObject({ provider: 'openai' });
  });
});
