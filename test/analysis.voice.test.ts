import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../src/ai/ai.registry.js';
import type { AiSettings } from '../src/ai/ai.settings.js';
import { Asset, Chest } from '../src/db/entities/index.js';
import { FileType, ProcessingStatus, StoryStyle, TagSource } from '../src/db/enums.js';
import { analyseAsset } from '../src/domain/analysis/analysis.service.js';
import { buildStoryContext } from '../src/domain/story/story-context.js';
import { writeExtractiveStory } from '../src/ai/local/extractive-story.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest } from './support/factories.js';
import { createGraphQLRunner } from './support/graphql.js';
import { mediaDir, type MediaDir } from './support/media-ffmpeg.js';
import { librivoxRecordings, makeSpeechMemo, pocketsphinxInstalled, type Recording, wordErrorRate } from './support/speech-testdata.js';
import { installWhisperStandIn } from './support/whisper-stand-in.js';

/**
 * Voices heard offline, through the AI step on a real Postgres: a voice memo made from real
 * speech (pocketsphinx-testdata) gets a rough transcript with timed segments from pocketsphinx
 * when whisper.cpp is not configured; with whisper.cpp (its stand-in) configured, whisper wins.
 * GraphQL shows the mark, and the story writer does not quote a rough transcript.
 */

const log = pino({ level: 'silent' });

describe.runIf(pocketsphinxInstalled)('the AI step on a voice memo, offline', () => {
  let db: TestDatabase;
  let storage: StorageBackend;
  let files: string;
  let media: MediaDir;
  let chest: Chest;
  let token: string;
  let recordings: Recording[];
  let memo: Buffer;
  let memoSeconds = 0;
  const opened: Ai[] = [];
  const em = () => db.orm.em.fork();
  const job = (assetId: string) => ({ id: 'job-1', data: { assetId }, attempt: 1, signal: new AbortController().signal });
  const local = (over: Partial<AiSettings> = {}): Ai => {
    const ai = createAi({
      providers: ['local'],
      openai: { baseURL: 'http://127.0.0.1:9/v1', apiKey: null, models: { transcribe: 't', vision: 'v', story: 's' }, timeoutMs: 1000, maxRetries: 0 },
      whisper: { binary: null, model: null },
      // As config.ts gives it when nothing is set: Debian's program and model, looked for.
      pocketsphinx: { binary: null, modelDir: null },
      cacheDir: join(files, 'cache'),
      ...over,
    });
    opened.push(ai);
    return ai;
  };
  const deps = (ai: Ai) => ({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai });

  async function voiceMemo(): Promise<Asset> {
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), {
      fileType: FileType.AUDIO,
      mimeType: 'audio/mp4',
      filename: 'grandma.m4a',
      status: ProcessingStatus.COMPLETE,
      mediaInfo: { hasAudio: true },
    });
    await storage.put(asset.storageKey, Readable.from(memo));
    return asset;
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    files = await mkdtemp(join(tmpdir(), 'dmc-voice-'));
    storage = await createStorage({ kind: 'filesystem', root: files });
    media = await mediaDir();
    recordings = await librivoxRecordings();
    // Two sentences, as a phone records them (AAC): one a memory would hold.
    const made = await makeSpeechMemo(media.path('memo.m4a'), [recordings[2]!.wav, recordings[3]!.wav]);
    memoSeconds = made.seconds;
    memo = await readFile(media.path('memo.m4a'));
    const e = em();
    const owner = await makeAccount(e);
    token = owner.token;
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner.account);
  });
  afterAll(async () => {
    await Promise.all(opened.map((ai) => ai.close()));
    await db?.close();
    await media?.remove();
    await rm(files, { recursive: true, force: true });
  });

  it('without whisper.cpp: a rough transcript with timed segments and its confidence, recorded as pocketsphinx’s, shown as rough in GraphQL', { timeout: 120_000 }, async () => {
    const asset = await voiceMemo();
    await analyseAsset(deps(local()), job(asset.id));

    const row = await em().findOneOrFail(Asset, asset.id);
    const transcription = row.transcription!;
    expect(transcription).toMatchObject({ language: 'en', rough: true });
    expect(transcription.confidence).toBeGreaterThan(0);
    expect(transcription.confidence).toBeLessThanOrEqual(1);
    // One segment per sentence, in order, within the memo.
    expect(transcription.segments).toHaveLength(2);
    expect(transcription.segments[0]!.start).toBeLessThan(transcription.segments[1]!.start);
    expect(transcription.segments[1]!.end).toBeLessThanOrEqual(memoSeconds + 0.05);
    // Measured 0.303 on these two sentences.
    expect(wordErrorRate(`${recordings[2]!.text} ${recordings[3]!.text}`, transcription.text)).toBeLessThanOrEqual(0.4);
    expect(row.analyses.map((a) => `${a.task}:${a.status}:${a.provider}:${a.model}`)).toEqual(['transcribe:DONE:local:pocketsphinx-en-us', 'keywords:DONE:local:keywords-v1']);
    // Still searchable: its words give keyword tags.
    expect(row.tags.filter((t) => t.source === TagSource.KEYWORD).map((t) => t.name)).toEqual(expect.arrayContaining(['respectable']));

    const gql = await createGraphQLRunner(db.orm, { storage });
    try {
      const res = await gql.run<{ asset: { transcription: { rough: boolean; confidence: number; segments: unknown[] } } }>(
        'query($id: ID!) { asset(id: $id) { transcription { text rough confidence segments { start end text } } } }',
        { id: asset.id },
        { token },
      );
      expect(res.errors).toBeUndefined();
      expect(res.data!.asset.transcription).toMatchObject({ rough: true, confidence: transcription.confidence, segments: transcription.segments });
    } finally {
      await gql.stop();
    }
  });

  it('the story context carries the mark, and the local writer quotes none of the rough words', { timeout: 120_000 }, async () => {
    const context = await buildStoryContext(em(), await em().findOneOrFail(Chest, chest.id));
    const memories = context.memories.filter((m) => m.transcript);
    expect(memories.length).toBeGreaterThan(0);
    expect(memories.every((m) => m.roughTranscript === true)).toBe(true);
    for (const style of Object.values(StoryStyle)) {
      const draft = writeExtractiveStory(context, { style, includeTimeline: true, includeThemes: true });
      const written = [...draft.paragraphs.map((p) => p.text), ...draft.timeline.map((t) => `${t.title} ${t.description ?? ''}`)].join(' ');
      expect(written).not.toMatch(/[“”"]/);
      for (const m of memories) {
        // No run of five of its words appears in what the story says.
        const heard = m.transcript!.split(' ');
        for (let i = 0; i + 5 <= heard.length; i++) expect(written).not.toContain(heard.slice(i, i + 5).join(' '));
      }
    }
  });

  it('with whisper.cpp configured (its stand-in), whisper wins: a transcript that is not rough', { timeout: 120_000 }, async () => {
    const whisper = await installWhisperStandIn(media);
    const asset = await voiceMemo();
    await analyseAsset(deps(local({ whisper: { binary: whisper.binary, model: await whisper.model('ok') } })), job(asset.id));

    const row = await em().findOneOrFail(Asset, asset.id);
    expect(row.transcription).toMatchObject({ text: 'Grandma planted the apple tree the year we moved in.', rough: false, confidence: null });
    expect(row.analyses[0]).toMatchObject({ task: 'transcribe', status: 'DONE', provider: 'local', model: 'ggml-ok.bin' });
  });

  it('with neither, the memo says what to set up and gets no transcript', async () => {
    const asset = await voiceMemo();
    await analyseAsset(deps(local({ pocketsphinx: undefined })), job(asset.id));
    const row = await em().findOneOrFail(Asset, asset.id);
    expect(row.transcription).toBeNull();
    expect(row.analyses).toEqual([
      expect.objectContaining({ task: 'transcribe', status: 'UNAVAILABLE', error: expect.stringMatching(/WHISPER_CPP_PATH.*pocketsphinx/) }),
    ]);
  });
});
