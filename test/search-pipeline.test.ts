import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Ai, createAi } from '../src/ai/ai.registry.js';
import type { AiSettings } from '../src/ai/ai.settings.js';
import { Asset, Chest } from '../src/db/entities/index.js';
import { FileType, ProcessingStatus } from '../src/db/enums.js';
import { analyseAsset } from '../src/domain/analysis/analysis.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest } from './support/factories.js';
import { createGraphQLRunner } from './support/graphql.js';
import { DEFAULT_LETTERS, renderLetter, wordsOf } from './support/letters.js';
import { mediaDir, type MediaDir } from './support/media-ffmpeg.js';
import { librivoxRecordings, makeSpeechMemo, pocketsphinxInstalled, words } from './support/speech-testdata.js';

/**
 * Search over what the real AI step read (the embedded default: the local provider, offline): a
 * generated scanned letter through OCR, and a voice memo of real speech through pocketsphinx.
 * The pipeline writes extractedText and the transcript; the triggers index them in the same
 * statement; search finds a word of each with a highlighted snippet and, in the recording, the
 * start of its segment.
 */

const log = pino({ level: 'silent' });
const SEARCH = `query($chestId: ID!, $query: String!) {
  search(chestId: $chestId, query: $query) { edges { node { field snippet atSeconds asset { id } } } }
}`;

describe.each(BACKENDS)('search over the AI step on %s', (backend) => {
  let db: TestDatabase;
  let dir: string;
  let storage: StorageBackend;
  let media: MediaDir;
  let chest: Chest;
  let token: string;
  let ai: Ai;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  const em = () => db.orm.em.fork();
  const job = (assetId: string) => ({ id: `job-${assetId}`, data: { assetId }, attempt: 1, signal: new AbortController().signal });
  const search = async (query: string) => {
    const res = await gql.run<{ search: { edges: { node: { field: string; snippet: string; atSeconds: number | null; asset: { id: string } | null } }[] } }>(SEARCH, { chestId: chest.id, query }, { token });
    expect(res.errors).toBeUndefined();
    return res.data!.search.edges.map((e) => e.node);
  };

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    dir = await mkdtemp(join(tmpdir(), 'dmc-search-ai-'));
    storage = await createStorage({ kind: 'filesystem', root: join(dir, 'files') });
    media = await mediaDir();
    const e = em();
    const owner = await makeAccount(e);
    token = owner.token;
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner.account);
    ai = createAi({
      providers: ['local'],
      openai: { baseURL: 'http://127.0.0.1:9/v1', apiKey: null, models: { transcribe: 't', vision: 'v', story: 's' }, timeoutMs: 1000, maxRetries: 0 },
      whisper: { binary: null, model: null },
      pocketsphinx: { binary: null, modelDir: null },
      cacheDir: join(dir, 'cache'),
    } as unknown as AiSettings);
    gql = await createGraphQLRunner(db.orm, { storage });
  });
  afterAll(async () => {
    await gql?.stop();
    await ai?.close();
    await db?.close();
    await media?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('finds a word of an OCR\'d letter, highlighted in its snippet', { timeout: 180_000 }, async () => {
    const letter = await renderLetter(DEFAULT_LETTERS[0]!);
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), { status: ProcessingStatus.COMPLETE });
    await storage.put(asset.storageKey, Readable.from(letter.jpeg));
    await analyseAsset({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai }, job(asset.id));
    const read = (await em().findOneOrFail(Asset, asset.id)).extractedText ?? '';
    // A long word of the letter that OCR read as written.
    const word = [...new Set(wordsOf(letter.text))].filter((w) => w.length >= 7 && /^[a-z]+$/.test(w) && wordsOf(read).includes(w)).sort((a, b) => b.length - a.length)[0];
    expect(word).toBeDefined();
    const hits = await search(word!);
    const hit = hits.find((h) => h.field === 'DOCUMENT_TEXT');
    expect(hit?.asset?.id).toBe(asset.id);
    expect(hit!.snippet.toLowerCase()).toContain(`«${word}»`);
    expect(hit!.atSeconds).toBeNull();
  });

  it.runIf(pocketsphinxInstalled)('finds a word of a rough transcript with the start of its segment', { timeout: 180_000 }, async () => {
    const recordings = await librivoxRecordings();
    const made = await makeSpeechMemo(media.path('memo.m4a'), [recordings[2]!.wav, recordings[3]!.wav]);
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), { fileType: FileType.AUDIO, mimeType: 'audio/mp4', filename: 'memo.m4a', status: ProcessingStatus.COMPLETE, mediaInfo: { hasAudio: true } });
    await storage.put(asset.storageKey, Readable.from(await readFile(media.path('memo.m4a'))));
    await analyseAsset({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai }, job(asset.id));
    const segments = (await em().findOneOrFail(Asset, asset.id)).transcription!.segments;
    expect(segments.length).toBe(2);
    // A word the recogniser heard in the second sentence only.
    const first = new Set(words(segments[0]!.text));
    const word = words(segments[1]!.text).filter((w) => w.length >= 6 && !first.has(w)).sort((a, b) => b.length - a.length)[0];
    expect(word).toBeDefined();
    const hit = (await search(word!)).find((h) => h.field === 'TRANSCRIPT');
    expect(hit?.asset?.id).toBe(asset.id);
    expect(hit!.atSeconds).toBe(segments[1]!.start);
    // The segment starts after the first sentence and the gap, as the memo was made.
    expect(hit!.atSeconds!).toBeGreaterThan(made.starts[1]! - 1);
    expect(hit!.snippet.toLowerCase()).toContain(`«${word}»`);
  });
});
