import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../../src/ai/ai.registry.js';
import { loadConfig } from '../../src/config.js';
import { Asset, type Chest, Story } from '../../src/db/entities/index.js';
import { ProcessingStatus, StoryStatus, StoryStyle, TagSource } from '../../src/db/enums.js';
import { analyseAsset } from '../../src/domain/analysis/analysis.service.js';
import { processAsset } from '../../src/domain/processing/processing.service.js';
import { writeStory } from '../../src/domain/story/story.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { eventually } from '../support/client.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from '../support/db.js';
import { makeAccount, makeChest, makeStory } from '../support/factories.js';
import { jpegWithExif, letterScan } from '../support/media.js';
import { storeOriginal } from '../support/worker-rig.js';

/**
 * A family uploads a scanned letter and asks for the story while it is still being processed:
 * the writer waits for it (its OCR text and keywords are what the story is made of) instead of
 * writing around it.
 */
describe('a story asked for while memories are still being processed', () => {
  let db: TestDatabase;
  let dataDir: string;
  let storage: StorageBackend;
  let queue: JobQueue;
  let ai: Ai;
  const events = new InProcessEventBus();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-story-wait-'));
    const config = loadConfig({ DATABASE_URL: db.url, DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY });
    storage = await createStorage(config.storage);
    queue = await createPgBossQueue({ url: db.url, supervise: true, superviseIntervalSeconds: 1, pollingIntervalSeconds: 0.5, log: pino({ level: 'silent' }) });
    ai = createAi(config.ai);
  });

  afterAll(async () => {
    await queue?.stop({ timeoutMs: 5_000 });
    await ai?.close();
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A stored original and its memory, with its processing job queued: a finished upload. */
  const uploaded = (chest: Chest, filename: string, bytes: Buffer) => storeOriginal(db.orm, storage, chest, { filename, bytes }, queue);

  it('waits until the letter is processed and read, then cites it', { timeout: 120_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, { personName: 'Rose Ellis' }, account);
    // One memory already processed (no job left), one just uploaded.
    const photo = await uploaded(chest, 'garden.jpg', await jpegWithExif({ dateTimeOriginal: '1975:04:20 16:00:00' }, 600, 400, '#3c9a3c'));
    const deps = { orm: db.orm, storage, events, log: pino({ level: 'silent' }) };
    await processAsset(deps, { id: 'direct', data: { assetId: photo }, attempt: 1, signal: new AbortController().signal });
    await db.orm.em.fork().execute(`delete from pgboss.job where data->>'assetId' = ?`, [photo]);
    // The family tagged the photo "choir" (their own tags are their words): a theme once the letter's words are known too.
    await db.orm.em.fork().nativeUpdate(Asset, { id: photo }, { tags: [{ name: 'choir', source: TagSource.USER, confidence: 1 }] });
    const letter = await uploaded(chest, 'letter-from-margaret.jpg', await letterScan(['Dear Rose,', 'The choir sang your song on Sunday.', 'The apple tree is in bloom again.', 'With love, Margaret']));

    const story = await makeStory(db.orm.em.fork(), chest, { status: StoryStatus.GENERATING, style: StoryStyle.COMPREHENSIVE, includeThemes: true, includeTimeline: true });
    const logs: Array<{ msg: string; memories?: number }> = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    const writing = writeStory({ orm: db.orm, events, log, ai, queue }, { id: 'story-job', data: { storyId: story.id }, attempt: 1, signal: new AbortController().signal });
    await eventually(async () => (logs.some((l) => l.msg === 'story waits for memories still being processed') ? true : undefined), 30_000, 50);
    expect(logs.find((l) => l.msg === 'story waits for memories still being processed')?.memories).toBe(1);
    expect((await db.orm.em.fork().findOneOrFail(Story, { id: story.id })).status).toBe(StoryStatus.GENERATING);

    // The worker gets to the letter now: processing, then the AI step it queues.
    await queue.work('asset.process', { concurrency: 1 }, (job) => processAsset({ ...deps, queue }, job));
    await queue.work('asset.analyse', { concurrency: 1 }, (job) => analyseAsset({ ...deps, ai }, job));
    await writing;

    const read = await db.orm.em.fork().findOneOrFail(Asset, { id: letter });
    expect(read.status).toBe(ProcessingStatus.COMPLETE);
    expect(read.extractedText?.toLowerCase()).toContain('choir');
    const written = await db.orm.em.fork().findOneOrFail(Story, { id: story.id });
    expect(written.status).toBe(StoryStatus.READY);
    const cited = new Set([...written.paragraphs, ...written.timeline, ...written.themes].flatMap((c) => c.assetIds));
    expect(cited.has(letter)).toBe(true);
    // The theme draws on the letter's keywords, which only its analysis (OCR) gave it.
    expect(written.themes.find((t) => t.name === 'choir')?.assetIds).toEqual(expect.arrayContaining([photo, letter]));
    expect(logs.some((l) => l.msg === 'story written without memories that are still being processed')).toBe(false);
  });
});
