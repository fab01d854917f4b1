import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually } from './support/client.js';
import { buildPdf, jpegWithExif, letterScan } from './support/media.js';
import { makeStillVideo, makeVoiceMemo, mediaDir, type MediaDir } from './support/media-ffmpeg.js';
import { type FakeOpenAi, startFakeOpenAi } from './support/fake-openai.js';
import { type EmbeddedTestServer, startEmbeddedServer, useEmbeddedServer } from './support/server.js';
import { librivoxRecordings, makeSpeechMemo, pocketsphinxInstalled } from './support/speech-testdata.js';

/** Real group photos shipped with face-api (demo/sample1..6.jpg). */
const FACE_API_DEMO = join(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'), '..', 'demo');

const ASSET = `id fileType status caption extractedText dateTaken tags { name source confidence }
  transcription { text language rough confidence segments { start end text } } analyses { task status provider model error }`;

async function voiceMemo(out: string): Promise<string> {
  if (!pocketsphinxInstalled) return makeVoiceMemo(out);
  await makeSpeechMemo(out, (await librivoxRecordings()).slice(3).map((r) => r.wav));
  return out;
}

/**
 * The AI issue's "done when", offline: on the embedded default with the local provider, a chest
 * with photos, a scanned letter, a PDF and a voice memo gets tags, OCR text and a story whose
 * every claim cites its memories.
 */
describe('AI on the embedded default, offline (local provider)', () => {
  const fx = useEmbeddedServer();

  it('tags photos, reads a scanned letter and a PDF, transcribes a voice memo roughly (or says it cannot), and writes a cited story', { timeout: 240_000 }, async () => {
    const token = await fx.api.signUp('rose.ai@example.com');
    const chestId = await fx.api.createChest(token);
    const ids = {
      beach: await fx.api.upload(token, chestId, await jpegWithExif({ dateTimeOriginal: '1962:07:14 11:00:00', latitude: 50.1 }, 900, 600, '#2a6fd0'), 'beach.jpg', 'image/jpeg'),
      party: await fx.api.upload(token, chestId, await readFile(join(FACE_API_DEMO, 'sample1.jpg')), 'party.jpg', 'image/jpeg'),
      film: await fx.api.upload(token, chestId, await readFile(await makeStillVideo(join(FACE_API_DEMO, 'sample6.jpg'), fx.media.path('film.mp4'))), 'film.mp4', 'video/mp4'),
      garden: await fx.api.upload(token, chestId, await jpegWithExif({ dateTimeOriginal: '1975:04:20 16:00:00' }, 600, 900, '#3c9a3c'), 'garden.jpg', 'image/jpeg'),
      letter: await fx.api.upload(token, chestId, await letterScan(['Dear Rose,', 'The apple tree is in bloom again.', 'The choir sang your song on Sunday.', 'With love, Margaret']), 'letter-scan.jpg', 'image/jpeg'),
      pdf: await fx.api.upload(token, chestId, buildPdf([['Rose Ellis sang in the village choir for forty years.', 'She planted the apple tree in the garden in 1962.']]), 'choir-history.pdf', 'application/pdf'),
      // Real speech (pocketsphinx-testdata) where pocketsphinx can hear it; a tone otherwise.
      memo: await fx.api.upload(token, chestId, await readFile(await voiceMemo(fx.media.path('memo.m4a'))), 'memo.m4a', 'audio/mp4'),
    };

    const byId = await eventually(async () => {
      const { chest } = await fx.api.must(`query($c: ID!) { chest(id: $c) { assets(first: 20) { edges { node { ${ASSET} } } } } }`, { c: chestId }, token);
      const nodes = chest.assets.edges.map((e: any) => e.node);
      return nodes.every((n: any) => n.status === 'COMPLETE' && n.analyses.length > 0) ? new Map<string, any>(nodes.map((n: any) => [n.id, n])) : undefined;
    }, 180_000, 500);

    // A drawn picture (a blue field with a dark rectangle, which the model may take for a screen):
    // no colour, shape, decade or season among its tags or in its caption any more, only the date.
    const beach = byId.get(ids.beach);
    for (const t of beach.tags) expect(t).toMatchObject({ source: 'AI', confidence: expect.any(Number) });
    expect(beach.tags.map((t: any) => t.name)).not.toEqual(expect.arrayContaining([expect.stringMatching(/^(1960s|summer|blue|landscape|black|grey)$/)]));
    expect(beach.caption).toMatch(/(^|, )July 1962\.$/);
    expect(beach.caption).not.toMatch(/photograph|mostly|1960s|summer/);
    expect(beach.analyses.find((a: any) => a.task === 'describeImage')).toMatchObject({ status: 'DONE', provider: 'local', model: 'centernet-coco' });

    // A real photo: the object model's tags, with source and confidence, and a caption from them.
    const party = byId.get(ids.party);
    expect(party.tags.map((t: any) => `${t.source}:${t.name}`)).toEqual(['AI:person', 'AI:wine glass']);
    for (const t of party.tags) expect(t.confidence).toBeGreaterThanOrEqual(0.35);
    // The photo's own EXIF says when it was taken.
    expect(party.caption).toBe('People with a wine glass, October 2017.');

    // A film is described by its poster.
    const film = byId.get(ids.film);
    expect(film.fileType).toBe('VIDEO');
    expect(film.tags).toEqual([expect.objectContaining({ name: 'person', source: 'AI' })]);
    expect(film.caption).toBe('People.');
    expect(film.analyses.find((a: any) => a.task === 'describeImage')).toMatchObject({ status: 'DONE', provider: 'local', model: 'centernet-coco' });

    const letter = byId.get(ids.letter);
    expect(letter.tags.map((t: any) => t.name)).toContain('document');
    expect(letter.extractedText.toLowerCase()).toContain('apple tree');
    expect(letter.extractedText.toLowerCase()).toContain('choir');
    expect(letter.analyses.map((a: any) => `${a.task}:${a.status}:${a.provider}`)).toEqual(['describeImage:DONE:local', 'faces:DONE:local', 'extractText:DONE:local', 'keywords:DONE:local']);
    expect(letter.tags.filter((t: any) => t.source === 'KEYWORD').map((t: any) => t.name)).toEqual(expect.arrayContaining(['choir']));

    const pdf = byId.get(ids.pdf);
    expect(pdf.extractedText).toContain('village choir');
    expect(pdf.tags.filter((t: any) => t.source === 'KEYWORD').map((t: any) => t.name)).toEqual(expect.arrayContaining(['choir']));

    const memo = byId.get(ids.memo);
    if (pocketsphinxInstalled) {
      // No whisper.cpp configured, pocketsphinx installed: a rough transcript with timed segments.
      expect(memo.transcription).toMatchObject({ language: 'en', rough: true, confidence: expect.any(Number) });
      expect(memo.transcription.segments.length).toBeGreaterThan(0);
      expect(memo.analyses[0]).toMatchObject({ task: 'transcribe', status: 'DONE', provider: 'local', model: 'pocketsphinx-en-us' });
    } else {
      // No speech engine at all: the memo says so, and has no made-up transcript.
      expect(memo.transcription).toBeNull();
      expect(memo.analyses).toEqual([expect.objectContaining({ task: 'transcribe', status: 'UNAVAILABLE', error: expect.stringMatching(/No transcription backend is configured/) })]);
    }

    // The story, streamed, then ready.
    const ws = fx.api.ws(token);
    const ready = fx.api.collect(ws, `subscription($c: ID!) { storyReady(chestId: $c) { id status } }`, { c: chestId }, (all) => all.length === 1);
    await fx.api.settled(ws);
    const { generateStory } = await fx.api.must(`mutation($c: ID!) { generateStory(input: { chestId: $c, style: COMPREHENSIVE }) { id status style } }`, { c: chestId }, token);
    expect(generateStory).toMatchObject({ status: 'GENERATING', style: 'COMPREHENSIVE' });
    const progress = await fx.api.collect(ws, `subscription($s: ID!) { storyProgress(storyId: $s) { status narrative } }`, { s: generateStory.id }, (all) => all.some((r) => r.data?.storyProgress.status !== 'GENERATING')).done;
    expect((await ready.done)[0]!.data.storyReady).toEqual({ id: generateStory.id, status: 'READY' });
    await ws.dispose();
    expect(progress.at(-1)!.data.storyProgress.status).toBe('READY');

    const { story } = await fx.api.must(
      `query($s: ID!) { story(id: $s) { title content status paragraphs { text assetIds } timeline { date title assetIds } themes { name assetIds } generation { provider model droppedClaims } } }`,
      { s: generateStory.id },
      token,
    );
    expect(story.status).toBe('READY');
    expect(story.generation).toMatchObject({ provider: 'local', droppedClaims: 0 });
    expect(progress.at(-1)!.data.storyProgress.narrative).toBe(story.content);
    const chestIds = new Set(Object.values(ids));
    for (const claim of [...story.paragraphs, ...story.timeline, ...story.themes]) {
      expect(claim.assetIds.length).toBeGreaterThan(0);
      for (const id of claim.assetIds) expect(chestIds.has(id)).toBe(true);
    }
    // The timeline runs in date order and cites the dated photos.
    const dates = story.timeline.map((e: any) => e.date);
    expect(dates).toEqual([...dates].sort());
    expect(story.timeline[0].assetIds).toContain(ids.beach);
    expect(story.themes.map((t: any) => t.name)).toEqual(expect.arrayContaining(['choir']));

    // Edit makes a version; owners publish one.
    const edited = await fx.api.must(`mutation($s: ID!) { editStory(storyId: $s, input: { title: "Rose, remembered" }) { id version title } }`, { s: generateStory.id }, token);
    expect(edited.editStory).toMatchObject({ version: 2, title: 'Rose, remembered' });
    const versions = await fx.api.must(`query($s: ID!) { storyVersions(storyId: $s) { version } }`, { s: generateStory.id }, token);
    expect(versions.storyVersions.map((v: any) => v.version)).toEqual([2, 1]);
    await fx.api.must(`mutation($s: ID!) { publishStory(storyId: $s) { published } }`, { s: edited.editStory.id }, token);
    const { chest } = await fx.api.must(`query($c: ID!) { chest(id: $c) { publishedStory { id title } } }`, { c: chestId }, token);
    expect(chest.publishedStory).toEqual({ id: edited.editStory.id, title: 'Rose, remembered' });
  });

  it('refuses a story for a chest without processed memories, and checks roles', async () => {
    const owner = await fx.api.signUp('empty.chest@example.com');
    const chestId = await fx.api.createChest(owner);
    const none = await fx.api.gql(`mutation($c: ID!) { generateStory(input: { chestId: $c }) { id } }`, { c: chestId }, owner);
    expect(none.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT' });
    const stranger = await fx.api.signUp('not.a.member@example.com');
    const hidden = await fx.api.gql(`mutation($c: ID!) { generateStory(input: { chestId: $c }) { id } }`, { c: chestId }, stranger);
    expect(hidden.errors?.[0]?.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });
});

/**
 * The same flow with an OpenAI-compatible server configured (a fake one on loopback, spoken to by
 * the real client over HTTP): tags, caption, transcript and story come from it; OCR, which it
 * does not offer, falls back to the local provider along the chain.
 */
describe('AI through an OpenAI-compatible server (AI_PROVIDERS=openai,local)', () => {
  let fake: FakeOpenAi;
  let server: EmbeddedTestServer;
  let api: ReturnType<typeof apiClient>;
  let media: MediaDir;

  beforeAll(async () => {
    fake = await startFakeOpenAi();
    server = await startEmbeddedServer({ AI_PROVIDERS: 'openai,local', OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: 'sk-test-key', AI_MAX_RETRIES: '2', JOB_RETRY_DELAY_SECONDS: '1' });
    api = apiClient(server.app.url());
    media = await mediaDir();
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    await media?.remove();
  });

  it('uses the server for tags, captions, transcripts and the story, and local OCR for the letter', { timeout: 240_000 }, async () => {
    const token = await api.signUp('rose.openai@example.com');
    const chestId = await api.createChest(token);
    // The first image request is rate limited: the client waits and tries again.
    fake.script({ status: 429, headers: { 'retry-after-ms': '10' } });
    const photo = await api.upload(token, chestId, await jpegWithExif({ dateTimeOriginal: '1970:05:01 10:00:00' }, 800, 600, '#5a8'), 'garden.jpg', 'image/jpeg');
    const memo = await api.upload(token, chestId, await readFile(await makeVoiceMemo(media.path('memo.m4a'))), 'memo.m4a', 'audio/mp4');
    const letter = await api.upload(token, chestId, await letterScan(['Dear Rose,', 'The apple tree is in bloom again.', 'With love, Margaret']), 'letter.jpg', 'image/jpeg');

    const byId = await eventually(async () => {
      const { chest } = await api.must(`query($c: ID!) { chest(id: $c) { assets(first: 20) { edges { node { ${ASSET} } } } } }`, { c: chestId }, token);
      const nodes = chest.assets.edges.map((e: any) => e.node);
      return nodes.length === 3 && nodes.every((n: any) => n.analyses.length > 0) ? new Map<string, any>(nodes.map((n: any) => [n.id, n])) : undefined;
    }, 180_000, 500);

    expect(byId.get(photo).caption).toBe('A garden with a wooden bench.');
    expect(byId.get(photo).tags.filter((t: any) => t.source === 'AI').map((t: any) => t.name).sort()).toEqual(['bench', 'garden', 'outdoors']);
    // Faces are always looked for on this machine, whichever provider describes the picture.
    expect(byId.get(photo).analyses).toEqual([
      expect.objectContaining({ task: 'describeImage', status: 'DONE', provider: 'openai', model: 'gpt-4o-mini' }),
      expect.objectContaining({ task: 'faces', status: 'DONE', provider: 'local' }),
    ]);
    expect(byId.get(memo).transcription).toMatchObject({ text: 'Hello from the garden. We planted roses.', language: 'en' });
    expect(byId.get(memo).transcription.segments.map((s: any) => s.text)).toEqual(['Hello from the garden.', 'We planted roses.']);
    expect(byId.get(memo).analyses.map((a: any) => `${a.task}:${a.provider}`)).toEqual(['transcribe:openai', 'keywords:local']);
    expect(byId.get(letter).analyses.map((a: any) => `${a.task}:${a.provider}`)).toEqual(['describeImage:openai', 'faces:local', 'extractText:local', 'keywords:local']);
    expect(byId.get(letter).extractedText.toLowerCase()).toContain('apple tree');

    // The requests the server saw: the key as a bearer token, the models, the schema-bound output.
    const paths = fake.requests.map((r) => r.path);
    expect(paths.filter((p) => p === '/v1/chat/completions').length).toBeGreaterThanOrEqual(3); // 429 + photo + letter
    expect(paths).toContain('/v1/audio/transcriptions');
    expect(fake.requests.every((r) => r.headers.authorization === 'Bearer sk-test-key')).toBe(true);

    const { generateStory } = await api.must(`mutation($c: ID!) { generateStory(input: { chestId: $c, style: BRIEF }) { id } }`, { c: chestId }, token);
    const ws = api.ws(token);
    const progress = await api.collect(ws, `subscription($s: ID!) { storyProgress(storyId: $s) { status narrative } }`, { s: generateStory.id }, (all) => all.some((r) => r.data?.storyProgress.status !== 'GENERATING')).done;
    await ws.dispose();
    const { story } = await api.must(`query($s: ID!) { story(id: $s) { status title paragraphs { text assetIds } timeline { date assetIds } generation { provider model droppedClaims } } }`, { s: generateStory.id }, token);
    expect(progress.at(-1)!.data.storyProgress.status).toBe('READY');
    // The provider discarded the timeline entry dated "sometime"; that counts as a dropped claim.
    expect(story).toMatchObject({ status: 'READY', title: 'The life of Rose Ellis', generation: { provider: 'openai', model: 'gpt-4o-mini', droppedClaims: 1 } });
    // The server cited an id that is not a memory: it is gone; every remaining citation is real.
    const ids = new Set([photo, memo, letter]);
    for (const p of story.paragraphs) for (const id of p.assetIds) expect(ids.has(id)).toBe(true);
    expect(story.paragraphs).toHaveLength(3);
    const storyRequest = fake.requests.find((r) => r.path === '/v1/chat/completions' && JSON.stringify(r.body).includes('"stream":true'));
    expect(storyRequest).toBeDefined();
    expect(JSON.stringify(storyRequest!.body)).not.toMatch(/latitude|longitude|storageKey/);
  });
});
