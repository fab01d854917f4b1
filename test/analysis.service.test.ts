import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import exifr from 'exifr';
import { pino } from 'pino';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AiFile, type AiProvider, AiProviderError, AiUnavailableError, type ImageDescription } from '../src/ai/ai.port.js';
import { type Ai, createAi } from '../src/ai/ai.registry.js';
import type { Config } from '../src/config.js';
import { Asset, Chest } from '../src/db/entities/index.js';
import { ChestRole, FileType, ProcessingStatus, TagSource } from '../src/db/enums.js';
import { createActor } from '../src/domain/actor.js';
import { analyseAsset, recordAnalysisGaveUp } from '../src/domain/analysis/analysis.service.js';
import { updateMemory } from '../src/domain/asset/asset.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import { readExif } from './support/exif.js';
import { DEFAULT_ARCHIVE_LIMITS } from '../src/media/sandbox/zip-directory.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { startWorker } from '../src/worker/worker.js';
import { waitUntil } from './jobs/jobs.contract.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest } from './support/factories.js';
import { pngClaiming } from './support/hostile-files.js';
import { jpegWithExif } from './support/media.js';
import { createLocalProvider } from '../src/ai/local/local.provider.js';
import { type AiSettings, VISION_OFF } from '../src/ai/ai.settings.js';

/**
 * The AI step on a real Postgres and real files: what picture a (possibly remote) vision model is
 * given, that people's words survive it, and what the dead-letter step records.
 */

const log = pino({ level: 'silent' });
const HOME = { latitude: 54.486123, longitude: -0.615987 };
/** Real group photos shipped with face-api (demo/sample1..6.jpg). */
const FACE_API_DEMO = join(createRequire(import.meta.url).resolve('@vladmandic/face-api/package.json'), '..', 'demo');

/** The object detector processes this test process started (objects.child.ts) that are still running. */
function detectorProcesses(): number {
  let n = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('objects.child')) n++;
    } catch {
      // gone meanwhile
    }
  }
  return n;
}

/** What describeImage was handed: the file's bytes as they were at the call (the temp dir goes afterwards). */
interface Seen {
  file: AiFile;
  bytes: Buffer;
}

/** An AI that describes every picture the same way and offers nothing else. */
function describingAi(answer: Partial<ImageDescription> = {}, during?: () => Promise<void>): Ai & { seen: Seen[] } {
  const seen: Seen[] = [];
  const unavailable = async (): Promise<never> => {
    throw new AiUnavailableError('Not offered in this test');
  };
  return {
    seen,
    chain: ['test'],
    async describeImage(file) {
      seen.push({ file, bytes: await readFile(file.path) });
      await during?.();
      return { provider: 'local', model: 'test-vision', tags: [{ name: 'pier', confidence: 0.9 }], caption: 'A pier by the sea.', ...answer };
    },
    transcribe: unavailable,
    extractText: unavailable,
    generateStory: unavailable,
    close: async () => {},
  };
}

describe('the AI step', () => {
  let db: TestDatabase;
  let storage: StorageBackend;
  let dir: string;
  let chest: Chest;
  let editorId: string;
  const em = () => db.orm.em.fork();
  const deps = (ai: Ai) => ({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai });
  const job = (assetId: string) => ({ id: 'job-1', data: { assetId }, attempt: 1, signal: new AbortController().signal });
  const stored = (id: string) => em().findOneOrFail(Asset, id);
  let lastOriginal: Buffer = Buffer.alloc(0);

  /** A processed photo whose original carries GPS and a sideways orientation, with no thumbnails. */
  async function photoWithGps(over: Partial<Asset> = {}): Promise<Asset> {
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), {
      status: ProcessingStatus.COMPLETE,
      width: 1200,
      height: 1600,
      location: { ...HOME },
      ...over,
    });
    const bytes = await jpegWithExif({ ...HOME, orientation: 6, dateTimeOriginal: '1962:06:01 10:00:00', make: 'Kodak' }, 1600, 1200);
    await storage.put(asset.storageKey, Readable.from(bytes));
    lastOriginal = bytes;
    return asset;
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-analysis-'));
    storage = await createStorage({ kind: 'filesystem', root: dir });
    const e = em();
    const owner = (await makeAccount(e)).account;
    const editor = (await makeAccount(e)).account;
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner);
    await addMember(e, chest, editor, ChestRole.EDITOR);
    editorId = editor.id;
  });
  const providers: AiProvider[] = [];
  afterAll(async () => {
    await Promise.all(providers.map((p) => p.close?.()));
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('without a 1024 px thumbnail, hands the model a metadata-free, upright WebP copy, never the original', async () => {
    const asset = await photoWithGps();
    // The original really holds the position.
    const probe = join(dir, 'probe.jpg');
    await writeFile(probe, lastOriginal);
    expect((await readExif(probe)).location).toMatchObject({ latitude: HOME.latitude });

    const ai = describingAi();
    await analyseAsset(deps(ai), job(asset.id));
    expect(ai.seen).toHaveLength(1);
    const { file, bytes } = ai.seen[0]!;
    expect(file.mimeType).toBe('image/webp');
    expect(file.path.endsWith('original')).toBe(false);
    const meta = await sharp(bytes).metadata();
    expect(meta.format).toBe('webp');
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeUndefined();
    // Orientation 6 applied: the 1600×1200 sensor image stands upright, at most 1024 px.
    expect([meta.width, meta.height]).toEqual([768, 1024]);
    expect(meta.orientation ?? 1).toBe(1);
    expect(await exifr.gps(bytes).catch(() => undefined)).toBeUndefined();
    expect(bytes.includes(Buffer.from('Kodak'))).toBe(false);

    const row = await stored(asset.id);
    expect(row.caption).toBe('A pier by the sea.');
    expect(row.analyses.find((a) => a.task === 'describeImage')).toMatchObject({ status: 'DONE', provider: 'local', model: 'test-vision' });
  });

  it('with a 1024 px thumbnail, describes that', async () => {
    const asset = await photoWithGps();
    const key = `chests/${chest.id}/derivatives/${asset.id}/1024`;
    await storage.put(key, Readable.from(await sharp({ create: { width: 64, height: 48, channels: 3, background: '#48c' } }).webp().toBuffer()));
    await em().nativeUpdate(Asset, { id: asset.id }, { thumbnails: [{ name: '1024', width: 64, height: 48, mimeType: 'image/webp', storageKey: key }] });
    const ai = describingAi();
    await analyseAsset(deps(ai), job(asset.id));
    const meta = await sharp(ai.seen[0]!.bytes).metadata();
    expect([meta.width, meta.height]).toEqual([64, 48]);
  });

  it('keeps a caption and tags a person gave; replaces only its own tags on a re-run', async () => {
    const asset = await photoWithGps({ tags: [{ name: 'old guess', source: TagSource.AI, confidence: 0.4 }] });
    const e = em();
    await updateMemory(e, createActor(e, editorId), asset.id, { caption: 'Rose on the pier at Whitby', tags: ['holiday'] });
    await analyseAsset(deps(describingAi()), job(asset.id));
    const row = await stored(asset.id);
    expect(row.caption).toBe('Rose on the pier at Whitby');
    expect(row.tags).toEqual([
      { name: 'holiday', source: TagSource.USER, confidence: 1 },
      { name: 'pier', source: TagSource.AI, confidence: 0.9 },
    ]);
  });

  it('an edit made while the AI works is not lost', async () => {
    const asset = await photoWithGps();
    const ai = describingAi({}, async () => {
      const e = em();
      await updateMemory(e, createActor(e, editorId), asset.id, { caption: 'Typed while it was analysed', place: 'Whitby', tags: ['anna'] });
    });
    await analyseAsset(deps(ai), job(asset.id));
    const row = await stored(asset.id);
    expect(row).toMatchObject({ caption: 'Typed while it was analysed', place: 'Whitby' });
    expect(row.tags.map((t) => `${t.source}:${t.name}`)).toEqual(['USER:anna', 'AI:pier']);
  });

  it('says what still works when the AI gave up, and not that processing can be retried', async () => {
    const asset = await photoWithGps();
    await recordAnalysisGaveUp({ orm: db.orm }, asset.id);
    const last = (await stored(asset.id)).analyses.at(-1)!;
    expect(last).toMatchObject({ task: 'analyse', status: 'FAILED', provider: null, model: null });
    expect(last.error).toMatch(/could not be reached/);
    expect(last.error).toMatch(/updateMemory/);
    expect(last.error).not.toMatch(/retry processing/i);
  });

  /** The real offline provider's picture description (read in the sandbox), and nothing else. */
  function localDescribing(sandbox?: AiSettings['sandbox']): Ai {
    const local = createLocalProvider({ providers: ['local'], cacheDir: join(dir, 'cache'), sandbox } as AiSettings);
    providers.push(local);
    return { ...describingAi(), describeImage: (file, hints) => local.describeImage!(file, hints) };
  }

  /** A processed memory whose original is `bytes`, with no thumbnails: the AI step reads the original itself. */
  async function pictureMemory(bytes: Buffer): Promise<Asset> {
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), { status: ProcessingStatus.COMPLETE, width: null, height: null, mimeType: 'image/png' });
    await storage.put(asset.storageKey, Readable.from(bytes));
    return asset;
  }

  it('a real photo gets the object model\'s tags, with source and confidence, and a caption from them, the place and the date', { timeout: 60_000 }, async () => {
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), {
      status: ProcessingStatus.COMPLETE,
      width: 1920,
      height: 1280,
      place: 'Whitby',
      dateTaken: new Date(Date.UTC(1962, 5, 1, 10)),
      location: { ...HOME },
    });
    await storage.put(asset.storageKey, Readable.from(await readFile(join(FACE_API_DEMO, 'sample1.jpg'))));
    await analyseAsset(deps(localDescribing()), job(asset.id));
    const row = await stored(asset.id);
    // Three women, one holding a wine glass; nothing about colours, shape, decade or season.
    expect(row.tags.map((t) => t.name)).toEqual(['person', 'wine glass']);
    for (const tag of row.tags) {
      expect(tag.source).toBe(TagSource.AI);
      expect(tag.confidence).toBeGreaterThanOrEqual(0.35);
      expect(tag.confidence).toBeLessThanOrEqual(1);
    }
    expect(row.tags[0]!.confidence).toBeGreaterThan(0.6);
    expect(row.caption).toBe('People with a wine glass in Whitby, June 1962.');
    expect(row.analyses.map((a) => `${a.task}:${a.status}:${a.provider}:${a.model}`)).toEqual(['describeImage:DONE:local:centernet-coco']);
  });

  it('a video is described by its poster: tags and a caption, and no OCR', { timeout: 60_000 }, async () => {
    const e = em();
    const asset = await makeAsset(e, e.getReference(Chest, chest.id), {
      status: ProcessingStatus.COMPLETE,
      fileType: FileType.VIDEO,
      mimeType: 'video/mp4',
      place: 'the garden',
      mediaInfo: { hasAudio: false },
    });
    await storage.put(asset.storageKey, Readable.from(Buffer.from('the film itself is not looked at')));
    const key = `chests/${chest.id}/derivatives/${asset.id}/poster-1024`;
    const poster = await sharp(join(FACE_API_DEMO, 'sample6.jpg')).resize(1024, 1024, { fit: 'inside' }).webp({ quality: 80 }).toBuffer({ resolveWithObject: true });
    await storage.put(key, Readable.from(poster.data));
    await em().nativeUpdate(Asset, { id: asset.id }, { thumbnails: [{ name: 'poster-1024', width: poster.info.width, height: poster.info.height, mimeType: 'image/webp', storageKey: key }] });
    await analyseAsset(deps(localDescribing()), job(asset.id));
    const row = await stored(asset.id);
    expect(row.tags).toEqual([{ name: 'person', source: TagSource.AI, confidence: expect.any(Number) }]);
    expect(row.tags[0]!.confidence).toBeGreaterThan(0.5);
    expect(row.caption).toBe('People in the garden.');
    expect(row.analyses.map((a) => `${a.task}:${a.status}`)).toEqual(['describeImage:DONE']);
  });

  it('with vision off, no object model starts and describeImage says why; a scanned letter is still read', { timeout: 120_000 }, async () => {
    const ai = createAi({ providers: ['local'], vision: false, cacheDir: join(dir, 'cache') } as unknown as AiSettings);
    // With vision on, a picture starts a detector process, and the probe sees it.
    const on = createLocalProvider({ providers: ['local'], cacheDir: join(dir, 'cache') } as AiSettings);
    providers.push(on);
    await on.describeImage!({ path: join(FACE_API_DEMO, 'sample6.jpg'), mimeType: 'image/jpeg' }, {});
    const before = detectorProcesses();
    expect(before).toBeGreaterThanOrEqual(1);
    const photo = await pictureMemory(await readFile(join(FACE_API_DEMO, 'sample2.jpg')));
    const lines = ['Dear Rose,', 'The apple tree is in bloom again.', 'With love, Margaret'].map((l, i) => `<text x="64" y="${96 + 64 * i}">${l}</text>`).join('');
    const letter = await pictureMemory(
      await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="704" height="288"><rect width="100%" height="100%" fill="#f3ede0"/><g font-family="DejaVu Serif" font-size="32" fill="#3a3530">${lines}</g></svg>`))
        .png()
        .toBuffer(),
    );
    try {
      await analyseAsset(deps(ai), job(photo.id));
      await analyseAsset(deps(ai), job(letter.id));
    } finally {
      await ai.close();
    }
    const pictured = await stored(photo.id);
    expect(pictured.analyses).toEqual([{ task: 'describeImage', status: 'UNAVAILABLE', provider: null, model: null, error: VISION_OFF, at: expect.anything() }]);
    expect(pictured).toMatchObject({ tags: [], caption: null });
    const read = await stored(letter.id);
    expect(read.analyses.map((a) => `${a.task}:${a.status}`)).toEqual(['describeImage:UNAVAILABLE', 'extractText:DONE', 'keywords:DONE']);
    expect(read.extractedText).toMatch(/apple tree/);
    expect(detectorProcesses()).toBe(before);
  });

  it('a picture whose header claims 50,000×50,000 px is refused by the sandbox: its task FAILED with a reason, the job done, the next picture read', async () => {
    const small = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#806040' } }).png().toBuffer();
    const bomb = await pictureMemory(pngClaiming(small, 50_000, 50_000));
    const ai = localDescribing();
    // Resolves: a file the AI cannot read is said on the memory, not retried into the same refusal.
    await analyseAsset(deps(ai), job(bomb.id));
    const refused = (await stored(bomb.id)).analyses.find((a) => a.task === 'describeImage');
    expect(refused).toMatchObject({ status: 'FAILED', provider: null, error: expect.stringMatching(/larger than 100 megapixels and cannot be analysed/) });

    const fine = await pictureMemory(small);
    await analyseAsset(deps(ai), job(fine.id));
    expect((await stored(fine.id)).analyses.find((a) => a.task === 'describeImage')).toMatchObject({ status: 'DONE', provider: 'local', model: 'centernet-coco' });
  });

  it('OCR over its memory limit fails the extractText task with a reason for people; the job is not retried', async () => {
    const lines = ['Dear Rose,', 'The apple tree is in bloom again.', 'With love, Margaret'].map((l, i) => `<text x="64" y="${96 + 64 * i}">${l}</text>`).join('');
    const page = await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="704" height="288"><rect width="100%" height="100%" fill="#f3ede0"/><g font-family="DejaVu Serif" font-size="32" fill="#3a3530">${lines}</g></svg>`))
      .png()
      .toBuffer();
    const asset = await pictureMemory(page);
    const tight = createLocalProvider({ providers: ['local'], cacheDir: join(dir, 'cache'), sandbox: { memoryMb: 16, nativeMemoryMb: 1536, timeoutMs: 120_000 } } as AiSettings);
    providers.push(tight);
    const ai: Ai = { ...localDescribing(), extractText: (file) => tight.extractText!(file) };
    try {
      await analyseAsset(deps(ai), job(asset.id));
    } finally {
      await tight.close?.();
    }
    const row = await stored(asset.id);
    expect(row.analyses.find((a) => a.task === 'describeImage')).toMatchObject({ status: 'DONE' });
    expect(row.analyses.find((a) => a.task === 'extractText')).toMatchObject({
      status: 'FAILED',
      error: expect.stringMatching(/Text could not be read from the image: reading it needs more than the 16 MB of memory one file may use/),
    });
    expect(row.extractedText).toBeNull();
  });

  it('a picture read that meets the sandbox time limit fails its task with a reason and is not retried', async () => {
    const asset = await pictureMemory(await sharp({ create: { width: 640, height: 480, channels: 3, background: '#204080' } }).png().toBuffer());
    await analyseAsset({ ...deps(localDescribing({ memoryMb: 256, nativeMemoryMb: 1536, timeoutMs: 1 })), limits: { sandbox: { memoryMb: 256, nativeMemoryMb: 1536, timeoutMs: 1 }, archive: DEFAULT_ARCHIVE_LIMITS } }, job(asset.id));
    expect((await stored(asset.id)).analyses.find((a) => a.task === 'describeImage')).toMatchObject({
      status: 'FAILED',
      error: expect.stringMatching(/too large or complex to analyse: it takes longer than/),
    });
  });

  it('the dead-letter handler records the FAILED analysis and its reason on the memory when the AI never answers', { timeout: 60_000 }, async () => {
    const asset = await photoWithGps({ tags: [{ name: 'holiday', source: TagSource.USER, confidence: 1 }], caption: 'Kept' });
    let calls = 0;
    const ai: Ai = {
      ...describingAi(),
      async describeImage() {
        calls += 1;
        throw new AiProviderError('The AI service is overloaded (429)', true);
      },
    };
    const queue = await createPgBossQueue({
      url: db.url,
      supervise: true,
      superviseIntervalSeconds: 1,
      pollingIntervalSeconds: 0.5,
      log,
      retry: { retryLimit: 1, retryDelaySeconds: 1, retryDelayMaxSeconds: 1 },
    });
    try {
      await startWorker({ orm: db.orm, storage, events: new InProcessEventBus(), log }, queue, { jobs: { concurrency: 1 } } as Pick<Config, 'jobs' | 'ai'>, ai);
      await em().transactional((tx) => queue.enqueue(tx, 'asset.analyse', { assetId: asset.id }));
      await waitUntil(async () => (await stored(asset.id)).analyses.some((a) => a.task === 'analyse'), 'the dead letter is recorded', 45_000);
    } finally {
      await queue.stop({ timeoutMs: 5_000 });
    }
    expect(calls).toBe(2);
    const row = await stored(asset.id);
    expect(row.analyses).toEqual([
      { task: 'analyse', status: 'FAILED', provider: null, model: null, error: expect.stringMatching(/could not be reached after several attempts/), at: expect.anything() },
    ]);
    // The memory itself is untouched: still processed, with the person's words.
    expect(row).toMatchObject({ status: ProcessingStatus.COMPLETE, caption: 'Kept' });
    expect(row.tags).toEqual([{ name: 'holiday', source: TagSource.USER, confidence: 1 }]);
  });
});
