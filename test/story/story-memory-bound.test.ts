import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../../src/ai/ai.registry.js';
import { loadConfig } from '../../src/config.js';
import { type Asset, Chest, Story } from '../../src/db/entities/index.js';
import { ContributionStatus, ProcessingStatus, StoryStatus, StoryStyle } from '../../src/db/enums.js';
import { buildStoryContext } from '../../src/domain/story/story-context.js';
import { writeStory } from '../../src/domain/story/story.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from '../support/db.js';
import { makeAccount, makeAsset, makeChest, makeContribution, makeStory } from '../support/factories.js';

/**
 * A chest larger than the story bound (a small one passed for the test: 30 memories) on real
 * PostgreSQL, written by the local provider through writeStory: the bound thins the life evenly
 * across the years instead of cutting its end, keeps what came after the passing and the
 * contributions, and says how many it left out.
 */
const BOUND = 30;

describe('a story of a chest larger than the memory bound', () => {
  let db: TestDatabase;
  let ai: Ai;
  let chest: Chest;
  const burst: Asset[] = [];
  const years: Asset[] = [];
  let newest: Asset;
  const after: Asset[] = [];
  const contributed: Asset[] = [];
  let total = 0;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    ai = createAi(loadConfig({ DATABASE_URL: db.url, SECRET_KEY: TEST_SECRET_KEY }).ai);
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    chest = await makeChest(em, { personName: 'Edith Moore', birthDate: '1930-02-01', passingDate: '2010-06-30' }, account);
    const photo = (date: string, caption: string, over: Partial<Asset> = {}) =>
      makeAsset(em, chest, { status: ProcessingStatus.COMPLETE, dateTaken: new Date(`${date}T12:00:00Z`), caption, place: `Garden ${caption.length}`, ...over });
    // A scanned album of 1950: forty photos, more than the bound can hold of one year.
    for (let i = 0; i < 40; i++) burst.push(await photo(new Date(Date.UTC(1950, 0, 1 + i * 9)).toISOString().slice(0, 10), `Album of 1950, page ${i + 1}`));
    for (let y = 1960; y < 1980; y++) years.push(await photo(`${y}-07-01`, `Summer holiday of ${y}`));
    newest = await photo('2005-05-05', 'Edith at her last garden party');
    for (const [i, date] of ['2011-03-01', '2012-03-01', '2013-03-01'].entries()) after.push(await photo(date, `Planting her roses again, year ${i + 1}`));
    for (const [i, name] of ['Grace Lee', 'Omar Said'].entries()) {
      const c = await makeContribution(em, chest, { status: ContributionStatus.APPROVED, contributorName: name, relationship: 'friend', message: `${name} remembers Edith's kindness at every market day.` });
      contributed.push(await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE, contribution: c, caption: `A card from ${name}`, ...(i === 0 && { dateTaken: new Date('1985-04-04') }) }));
    }
    total = burst.length + years.length + 1 + after.length + contributed.length;
  }, 120_000);
  afterAll(async () => {
    await ai?.close();
    await db?.close();
  });

  it('the context keeps every year, the newest, what came after the passing and the contributions, and counts what it left out', async () => {
    const context = await buildStoryContext(db.orm.em.fork(), await db.orm.em.fork().findOneOrFail(Chest, chest.id), { maxMemories: BOUND });
    const ids = new Set(context.memories.map((m) => m.id));
    expect(context.memories).toHaveLength(BOUND);
    expect(context.leftOut).toBe(total - BOUND);
    for (const a of [...years, newest, ...after, ...contributed]) expect(ids.has(a.id), a.caption ?? a.id).toBe(true);
    // The album year keeps its share (what the others left), its first and last page among them.
    const pages = burst.filter((a) => ids.has(a.id));
    expect(pages).toHaveLength(BOUND - years.length - 1 - after.length - contributed.length);
    expect(ids.has(burst[0]!.id) && ids.has(burst.at(-1)!.id)).toBe(true);
    // Still in story order, oldest first, undated last.
    const dates = context.memories.map((m) => m.date ?? '9999');
    expect([...dates].sort()).toEqual(dates);
  });

  it('with more years than room, one memory of years at even steps, the newest among them', async () => {
    const context = await buildStoryContext(db.orm.em.fork(), await db.orm.em.fork().findOneOrFail(Chest, chest.id), { maxMemories: 10 });
    const ids = new Set(context.memories.map((m) => m.id));
    expect(context.memories).toHaveLength(10);
    for (const a of [newest, ...after, ...contributed]) expect(ids.has(a.id), a.caption ?? a.id).toBe(true);
    // 22 years for 5 places: the oldest year's last page, the newest memory, and three years between.
    expect(new Set(context.memories.filter((m) => !m.afterPassing && !m.contribution).map((m) => m.date!.slice(0, 4))).size).toBe(5);
    expect(ids.has(burst.at(-1)!.id)).toBe(true);
  });

  it('below the bound nothing is left out', async () => {
    const context = await buildStoryContext(db.orm.em.fork(), await db.orm.em.fork().findOneOrFail(Chest, chest.id), { maxMemories: total });
    expect(context.memories).toHaveLength(total);
    expect(context.leftOut).toBe(0);
  });

  it('writeStory cites the newest memories, the remembrance and the contributions, and records what it left out', { timeout: 60_000 }, async () => {
    const em = db.orm.em.fork();
    const story = await makeStory(em, await em.findOneOrFail(Chest, chest.id), { status: StoryStatus.GENERATING, style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true });
    const logged: Record<string, unknown>[] = [];
    const log = pino({ level: 'info' }, new Writable({ write: (line, _enc, done) => done(void logged.push(JSON.parse(String(line)) as Record<string, unknown>)) }));
    await writeStory(
      { orm: db.orm, events: new InProcessEventBus(), log, ai, maxStoryMemories: BOUND },
      { id: 'job-bound', data: { storyId: story.id }, attempt: 1, signal: new AbortController().signal },
    );
    const saved = await db.orm.em.fork().findOneOrFail(Story, { id: story.id });
    expect(saved.status).toBe(StoryStatus.READY);
    const cited = new Set([...saved.paragraphs, ...saved.timeline].flatMap((c) => c.assetIds));
    for (const a of [newest, years.at(-1)!, ...after, ...contributed]) expect(cited.has(a.id), a.caption ?? a.id).toBe(true);
    expect(saved.content).toContain('last garden party');
    expect(cited.size).toBeLessThanOrEqual(BOUND);
    expect(saved.generation).toMatchObject({ provider: 'local', leftOutMemories: total - BOUND });
    expect(logged.find((l) => l['msg'] === 'story written from a selection of the memories')).toMatchObject({ storyId: story.id, memories: BOUND, leftOut: total - BOUND });
  });
});
