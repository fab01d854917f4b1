import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Story } from '../../src/db/entities/index.js';
import { StoryStatus } from '../../src/db/enums.js';
import { createActor } from '../../src/domain/actor.js';
import { recordStoryGaveUp } from '../../src/domain/story/story.service.js';
import { watchStory } from '../../src/domain/story/story-watch.js';
import { topics } from '../../src/events/events.port.js';
import { PostgresEventBus } from '../../src/events/postgres.events.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeChest, makeStory } from '../support/factories.js';

const REASON = 'The AI service could not be reached after several attempts; try again later';

/**
 * The dead-letter step on real PostgreSQL, with the worker's and the API's event buses apart
 * (LISTEN/NOTIFY between them), as in served mode.
 */
describe('recordStoryGaveUp', () => {
  let db: TestDatabase;
  let worker: PostgresEventBus;
  let api: PostgresEventBus;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const log = pino({ level: 'silent' });
    [worker, api] = [new PostgresEventBus(db.url, log), new PostgresEventBus(db.url, log)];
    await Promise.all([worker.start(), api.start()]);
  });
  afterAll(async () => {
    await Promise.all([worker?.close(), api?.close()]);
    await db?.close();
  });

  async function storyOf(status: StoryStatus, content = '') {
    const em = db.orm.em.fork();
    const { account, token } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const story = await makeStory(em, chest, { status, content });
    const watch = () => watchStory(db.orm.em.fork(), () => db.orm.em.fork(), { accountId: account.id, sessionToken: token, shareToken: null }, createActor(db.orm.em.fork(), account.id), story.id, api);
    return { story, chest, watch };
  }

  it('marks a GENERATING story FAILED with its reason, and a subscriber sees it end', async () => {
    const { story, chest, watch } = await storyOf(StoryStatus.GENERATING, 'She kept a garden');
    const signals = api.subscribe<unknown>(topics.story(story.id));
    const watched = await watch();
    expect((await watched.next()).value).toEqual({ storyId: story.id, chestId: chest.id, status: StoryStatus.GENERATING, narrative: 'She kept a garden', error: null });

    await recordStoryGaveUp({ orm: db.orm, events: worker }, story.id);

    expect(await watched.next()).toEqual({ done: false, value: { storyId: story.id, chestId: chest.id, status: StoryStatus.FAILED, narrative: '', error: REASON } });
    expect((await watched.next()).done).toBe(true);
    expect((await signals.next()).value).toEqual({ storyId: story.id, chestId: chest.id, status: StoryStatus.FAILED, length: 0 });
    await signals.return?.();
    const row = await db.orm.em.fork().findOneOrFail(Story, { id: story.id });
    expect(row).toMatchObject({ status: StoryStatus.FAILED, error: REASON, content: '' });
    // A late subscriber gets the outcome at once, and nothing after it.
    const late = await watch();
    expect((await late.next()).value).toMatchObject({ status: StoryStatus.FAILED, error: REASON });
    expect((await late.next()).done).toBe(true);
  });

  it('leaves a story that finished meanwhile as it is, and signals nothing', async () => {
    const { story } = await storyOf(StoryStatus.READY, 'The whole story.');
    const signals = api.subscribe<{ storyId: string }>(topics.story(story.id));
    await recordStoryGaveUp({ orm: db.orm, events: worker }, story.id);
    // A marker on the same topic, sent after: had gave-up signalled, it would arrive first.
    worker.publish(topics.story(story.id), { storyId: 'marker' });
    expect((await signals.next()).value).toEqual({ storyId: 'marker' });
    await signals.return?.();
    const row = await db.orm.em.fork().findOneOrFail(Story, { id: story.id });
    expect(row).toMatchObject({ status: StoryStatus.READY, content: 'The whole story.', error: null });
  });
});
