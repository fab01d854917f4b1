import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { EntityManager } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiUnavailableError, type ImageTag } from '../src/ai/ai.port.js';
import type { Ai } from '../src/ai/ai.registry.js';
import { Asset, Chest, ChestEvent } from '../src/db/entities/index.js';
import { ChestRole, ProcessingStatus, TagSource } from '../src/db/enums.js';
import { createActor } from '../src/domain/actor.js';
import { ANALYSE_AGAIN_STAGE, analyseAgain } from '../src/domain/analysis/analyse-again.service.js';
import { analyseAsset } from '../src/domain/analysis/analysis.service.js';
import { updateMemory } from '../src/domain/asset/asset.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import type { JobQueue } from '../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { waitUntil } from './jobs/jobs.contract.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest } from './support/factories.js';
import { createGraphQLRunner, failure, ok } from './support/graphql.js';
import { letterScan } from './support/media.js';
import { rejection } from './support/rejection.js';

/**
 * analyseAgain: owners and editors send a processed memory through the AI step again. One
 * asset.analyse job however often they ask while it waits, and its results replace the last
 * run's tags, caption and OCR text, never what people wrote. On Postgres and on PGlite (where
 * the queue shares the one connection with the transaction that asks).
 */

const log = pino({ level: 'silent' });
const EXIF = { name: '1960s', source: TagSource.EXIF, confidence: 1 };

/** What the stand-in AI says about a picture this time round. */
interface Answer {
  tags: ImageTag[];
  caption: string | null;
  text: string;
}

/** A local-looking AI whose answers the test changes between runs. */
function scriptedAi(answer: () => Answer): Ai {
  const unavailable = async (): Promise<never> => {
    throw new AiUnavailableError('Not offered in this test');
  };
  return {
    chain: ['test'],
    describeImage: async () => ({ provider: 'local', model: 'test-vision', tags: answer().tags, caption: answer().caption }),
    extractText: async () => ({ provider: 'local', model: 'test-ocr', text: answer().text, confidence: 0.9 }),
    transcribe: unavailable,
    generateStory: unavailable,
    close: async () => {},
  };
}

describe.each(BACKENDS)('analyseAgain on %s', (backend) => {
  let db: TestDatabase;
  let storage: StorageBackend;
  let queue: JobQueue;
  let dir: string;
  let chest: Chest;
  let publicChest: Chest;
  let people: Record<'owner' | 'editor' | 'viewer' | 'stranger', string>;
  let answer: Answer;
  const bus = new InProcessEventBus();
  const em = (): EntityManager => db.orm.em.fork();
  const as = (who: keyof typeof people | null): [EntityManager, ReturnType<typeof createActor>] => {
    const e = em();
    return [e, createActor(e, who ? people[who] : null)];
  };
  const again = (who: keyof typeof people | null, assetId: string) => analyseAgain(...as(who), assetId, queue, bus);
  const stored = (id: string) => em().findOneOrFail(Asset, id);
  /** asset.analyse jobs ever queued for this memory, whatever became of them. */
  const jobsFor = async (assetId: string): Promise<number> => {
    const [row] = await em().execute<{ n: number }[]>(`select count(*)::int as n from pgboss.job where name = 'asset.analyse' and data->>'assetId' = ?`, [assetId]);
    return row!.n;
  };

  /** A processed scan of a letter, its original in storage. */
  async function letter(over: Partial<Asset> = {}, inChest = chest): Promise<Asset> {
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, inChest.id), { status: ProcessingStatus.COMPLETE, tags: [EXIF], ...over });
    await storage.put(asset.storageKey, Readable.from(await letterScan(['Dear Rose,', 'The apple tree is in bloom again.'])));
    return asset;
  }

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    dir = await mkdtemp(join(tmpdir(), 'dmc-analyse-again-'));
    storage = await createStorage({ kind: 'filesystem', root: dir });
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log, pollingIntervalSeconds: 0.5 });
    const e = em();
    const owner = (await makeAccount(e)).account;
    const editor = (await makeAccount(e)).account;
    const viewer = (await makeAccount(e)).account;
    const stranger = (await makeAccount(e)).account;
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner);
    publicChest = await makeChest(e, { personName: 'Rose Ellis', isPublic: true }, owner);
    for (const c of [chest, publicChest]) {
      await addMember(e, c, editor, ChestRole.EDITOR);
      await addMember(e, c, viewer, ChestRole.VIEWER);
    }
    people = { owner: owner.id, editor: editor.id, viewer: viewer.id, stranger: stranger.id };
    // The worker's side: every asset.analyse job runs the real AI step with the scripted AI.
    await queue.work('asset.analyse', { concurrency: 1 }, (job) => analyseAsset({ orm: db.orm, storage, events: bus, log, ai: scriptedAi(() => answer) }, job));
  });
  afterAll(async () => {
    await queue?.stop({ timeoutMs: 5_000 });
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const settled = (assetId: string) => waitUntil(async () => !(await queue.unfinishedFor('asset.analyse', [assetId])).has(assetId), 'the analysis job has run', 60_000);

  it("replaces the last run's tags, caption and junk OCR text with the new run's; people's tags and EXIF stay", async () => {
    // The first run, as an older OCR did it: noise read as words, and keyword tags made of them.
    answer = { tags: [{ name: 'document', confidence: 0.9 }, { name: 'paper', confidence: 0.6 }], caption: 'A page of text.', text: 'EIRENE ene CEES SERA TESLA Ee TT GERTTRLEG PATRI NEALE' };
    const asset = await letter();
    await analyseAsset({ orm: db.orm, storage, events: bus, log, ai: scriptedAi(() => answer) }, { id: 'first', data: { assetId: asset.id }, attempt: 1, signal: new AbortController().signal });
    const first = await stored(asset.id);
    expect(first.extractedText).toContain('EIRENE');
    expect(first.tags.some((t) => t.source === TagSource.KEYWORD)).toBe(true);
    await updateMemory(...as('editor'), asset.id, { tags: ['from Margaret'] });

    answer = { tags: [{ name: 'document', confidence: 0.9 }], caption: 'A letter to Rose.', text: 'Dear Rose, the apple tree is in bloom again.' };
    const returned = await again('editor', asset.id);
    expect(returned).toMatchObject({ id: asset.id, status: ProcessingStatus.COMPLETE });
    await settled(asset.id);

    const row = await stored(asset.id);
    expect(row.extractedText).toBe('Dear Rose, the apple tree is in bloom again.');
    expect(row.caption).toBe('A letter to Rose.');
    const tags = row.tags.map((t) => `${t.source}:${t.name}`);
    expect(tags.slice(0, 3)).toEqual(['USER:from Margaret', 'EXIF:1960s', 'AI:document']);
    expect(tags).not.toContain('AI:paper');
    // Keywords come from the new text only.
    expect(tags).toContain('KEYWORD:apple');
    expect(tags.filter((t) => /^KEYWORD:(eirene|cees|sera|tesla|gerttrleg|patri|neale)$/i.test(t))).toEqual([]);
    expect(row.analyses.map((a) => `${a.task}:${a.status}`)).toEqual(['describeImage:DONE', 'extractText:DONE', 'keywords:DONE']);
  });

  it("keeps a caption a person wrote; a reading that finds no text clears the last one's", async () => {
    answer = { tags: [{ name: 'document', confidence: 0.9 }], caption: 'A page of text.', text: 'With love, Margaret and all of us' };
    const asset = await letter();
    await again('owner', asset.id);
    await settled(asset.id);
    expect(await stored(asset.id)).toMatchObject({ caption: 'A page of text.', extractedText: 'With love, Margaret and all of us' });

    await updateMemory(...as('editor'), asset.id, { caption: 'Margaret to Rose, spring 1962' });
    answer = { tags: [{ name: 'document', confidence: 0.9 }], caption: 'A letter.', text: '' };
    await again('owner', asset.id);
    await settled(asset.id);
    const row = await stored(asset.id);
    expect(row.caption).toBe('Margaret to Rose, spring 1962');
    expect(row.extractedText).toBeNull();
    expect(row.tags.some((t) => t.source === TagSource.KEYWORD)).toBe(false);
  });

  it('queues one job however often it is asked while that job waits, at once or one after another', async () => {
    const asset = await letter();
    await queue.stop({ timeoutMs: 5_000 }).catch(() => undefined);
    // With no worker taking jobs, every request finds the first one still waiting.
    const waiting = await createPgBossQueue({ orm: db.orm, supervise: false, log });
    try {
      await Promise.all([1, 2, 3].map(() => analyseAgain(...as('owner'), asset.id, waiting, bus)));
      await analyseAgain(...as('editor'), asset.id, waiting, bus);
      expect(await jobsFor(asset.id)).toBe(1);
      const events = await em().find(ChestEvent, { assetId: asset.id });
      expect(events.map((e) => e.data?.stage)).toEqual([ANALYSE_AGAIN_STAGE]);
    } finally {
      await waiting.stop({ timeoutMs: 5_000 });
    }
    // The worker's queue again, for the tests after this one.
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log, pollingIntervalSeconds: 0.5 });
    await queue.work('asset.analyse', { concurrency: 1 }, (job) => analyseAsset({ orm: db.orm, storage, events: bus, log, ai: scriptedAi(() => answer) }, job));
    await settled(asset.id);
    expect(await jobsFor(asset.id)).toBe(1);
    // Once it has run, asking again queues a new one.
    await again('owner', asset.id);
    expect(await jobsFor(asset.id)).toBe(2);
    await settled(asset.id);
  });

  it('is for owners and editors: a viewer is FORBIDDEN, those who cannot see the memory get NOT_FOUND; nothing is queued', async () => {
    const asset = await letter();
    expect((await rejection(again('viewer', asset.id))).code).toBe('FORBIDDEN');
    expect((await rejection(again('stranger', asset.id))).code).toBe('NOT_FOUND');
    expect((await rejection(again(null, asset.id))).code).toBe('NOT_FOUND');
    // A public chest: anyone may see the memory, only its editors run the AI again.
    const open = await letter({}, publicChest);
    expect((await rejection(again('stranger', open.id))).code).toBe('FORBIDDEN');
    expect((await rejection(again(null, open.id))).code).toBe('UNAUTHENTICATED');
    // Ids that are no memory's.
    expect((await rejection(again('owner', 'not-an-id'))).code).toBe('NOT_FOUND');
    expect((await rejection(again('owner', '00000000-0000-4000-8000-000000000000'))).code).toBe('NOT_FOUND');
    const gone = await letter({ deletedAt: new Date() });
    expect((await rejection(again('owner', gone.id))).code).toBe('NOT_FOUND');
    for (const id of [asset.id, open.id, gone.id]) expect(await jobsFor(id)).toBe(0);
  });

  it('refuses a memory that is not processed with CONFLICT, naming retryProcessing for a failed one', async () => {
    for (const status of [ProcessingStatus.PENDING, ProcessingStatus.PROCESSING, ProcessingStatus.FAILED]) {
      const asset = await letter({ status });
      const refused = await rejection(again('owner', asset.id));
      expect(refused.code, status).toBe('CONFLICT');
      expect(refused.message).toMatch(new RegExp(`this one is ${status.toLowerCase()}`));
      if (status === ProcessingStatus.FAILED) expect(refused.message).toMatch(/retryProcessing/);
      expect(await jobsFor(asset.id)).toBe(0);
    }
  });

  it('is a GraphQL mutation with the same answers', async () => {
    const gql = await createGraphQLRunner(db.orm, { storage, events: bus, queue });
    try {
      const e = em();
      const owner = await makeAccount(e);
      const viewer = await makeAccount(e);
      const c = await makeChest(e, { personName: 'Rose Ellis' }, owner.account);
      await addMember(e, c, viewer.account, ChestRole.VIEWER);
      const asset = await letter({}, c);
      const pending = await letter({ status: ProcessingStatus.PENDING }, c);
      const ANALYSE = `mutation($id: ID!) { analyseAgain(assetId: $id) { id status } }`;
      answer = { tags: [{ name: 'document', confidence: 0.9 }], caption: null, text: 'Dear Rose, the apple tree is in bloom again.' };
      expect(ok(await gql.run(ANALYSE, { id: asset.id }, { token: owner.token })).analyseAgain).toEqual({ id: asset.id, status: 'COMPLETE' });
      expect(failure(await gql.run(ANALYSE, { id: asset.id }, { token: viewer.token })).code).toBe('FORBIDDEN');
      expect(failure(await gql.run(ANALYSE, { id: asset.id })).code).toBe('NOT_FOUND');
      expect(failure(await gql.run(ANALYSE, { id: pending.id }, { token: owner.token })).code).toBe('CONFLICT');
      await settled(asset.id);
      expect((await stored(asset.id)).extractedText).toBe('Dear Rose, the apple tree is in bloom again.');
    } finally {
      await gql.stop();
    }
  });
});
