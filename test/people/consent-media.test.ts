import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import sharp from 'sharp';
import { thumbHashToRGBA } from 'thumbhash';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiUnavailableError } from '../../src/ai/ai.port.js';
import type { Ai } from '../../src/ai/ai.registry.js';
import { FaceApiEngine } from '../../src/ai/local/faces.js';
import { type Account, Asset, type Chest, Face } from '../../src/db/entities/index.js';
import { ChestRole, FileType, ProcessingStatus } from '../../src/db/enums.js';
import { analyseAsset } from '../../src/domain/analysis/analysis.service.js';
import { redactAsset } from '../../src/domain/people/redaction.js';
import { processAsset } from '../../src/domain/processing/processing.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { demoFaceCrop, demoPhotoPath, regionDetail, type RelativeBox } from '../support/faces.js';
import { addMember, makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner, ok } from '../support/graphql.js';
import { makeStillVideo, makeVoiceMemo, mediaDir, type MediaDir } from '../support/media-ffmpeg.js';
import { filesServer } from '../support/people.js';

/**
 * Consent in films and placeholders (issue 12 point 2), on real media through the real media
 * pipeline, AI step and face engine: a film made of face-api's demo photo 1 has its faces found
 * on its poster and grouped with the same people in the photo; once the family hides one of
 * them, people outside the family get posters with his face blurred (measured in the bytes
 * served), no film and no original, and a placeholder made from the blurred copy (none before it
 * exists). A ThumbHash is too coarse to change when a small face in a group is blurred, so the
 * placeholder's change is measured on a close-up photo and a close-up film of him, where his face
 * fills a third of the picture. Members get everything as before; unhidden, all is back.
 */

const log = pino({ level: 'silent' });
const unavailable = async (): Promise<never> => {
  throw new AiUnavailableError('Not offered in this test');
};
const noAi: Ai = { chain: [], describeImage: unavailable, transcribe: unavailable, extractText: unavailable, generateStory: unavailable, close: async () => {} };

const ASSET = `id fileType previewUrl previewMimeType originalUrl placeholder thumbnails { name width url } faces { id person { id name } }`;

describe('consent in films and placeholders: a hidden person', () => {
  let db: TestDatabase;
  let dir: string;
  let media: MediaDir;
  let storage: StorageBackend;
  let engine: FaceApiEngine;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let queue: JobQueue;
  let files: Awaited<ReturnType<typeof filesServer>>;
  let owner: { account: Account; token: string };
  let viewer: { account: Account; token: string };
  let chest: Chest;
  let shareToken: string;
  let photo: Asset;
  let film: Asset;
  let memo: Asset;
  /** A crop around Bill's face, as a photo and as a film. */
  let closePhoto: Asset;
  let closeFilm: Asset;
  /** The film's faces, left to right: Anna is named, Bill is named and then hidden. */
  let anna: Face;
  let bill: Face;
  const em = () => db.orm.em.fork();
  const deps = () => ({ orm: db.orm, storage, events: new InProcessEventBus(), log, ai: noAi, faces: engine });
  const job = (assetId: string) => ({ id: 'job', data: { assetId }, attempt: 1, signal: new AbortController().signal });
  const redactJob = (assetId: string) => redactAsset(deps(), assetId);

  const asOwner = (query: string, variables: Record<string, unknown> = {}) => gql.run(query, variables, { token: owner.token });
  const asViewer = (query: string, variables: Record<string, unknown> = {}) => gql.run(query, variables, { token: viewer.token });
  const asLinkHolder = (query: string, variables: Record<string, unknown> = {}) => gql.run(query, variables, { shareToken });
  const asset = async (as: typeof asOwner, id: string) => ok(await as(`query($id: ID!) { asset(id: $id) { ${ASSET} } }`, { id })).asset;
  const poster = (seen: any, side: 256 | 1024) => seen.thumbnails.find((t: any) => t.name.startsWith(`poster-${side}`));

  async function bytesOf(url: string): Promise<Buffer> {
    const got = await files.get(url);
    expect(got.status, url).toBe(200);
    return got.bytes;
  }

  /** An upload as it reaches the worker: the original in storage, then the asset.process job (the real pipeline), then the AI step. */
  async function upload(path: string, over: Partial<Asset>): Promise<Asset> {
    const e = em();
    const row = await makeAsset(e, chest, { size: (await stat(path)).size, ...over });
    await storage.put(row.storageKey, Readable.from([await readFile(path)]));
    await processAsset({ orm: db.orm, storage, events: new InProcessEventBus(), log }, job(row.id));
    expect((await em().findOneOrFail(Asset, row.id)).status).toBe(ProcessingStatus.COMPLETE);
    await analyseAsset(deps(), job(row.id));
    return em().findOneOrFail(Asset, row.id);
  }

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-consent-media-'));
    media = await mediaDir();
    storage = await createStorage({ kind: 'filesystem', root: dir });
    engine = new FaceApiEngine();
    queue = await createPgBossQueue({ orm: db.orm, supervise: false, log });
    gql = await createGraphQLRunner(db.orm, { storage, queue });
    files = await filesServer(db.orm, storage);
    const e = em();
    owner = await makeAccount(e);
    viewer = await makeAccount(e);
    chest = await makeChest(e, { personName: 'Rose Ellis' }, owner.account);
    await addMember(e, chest, viewer.account, ChestRole.VIEWER);
    shareToken = ok(await asOwner(`mutation($id: ID!) { createShareLink(chestId: $id, allowOriginals: true) { token } }`, { id: chest.id })).createShareLink.token;

    photo = await upload(demoPhotoPath(1), { fileType: FileType.IMAGE, mimeType: 'image/jpeg', filename: 'party.jpg' });
    film = await upload(await makeStillVideo(demoPhotoPath(1), media.path('party.mp4')), { fileType: FileType.VIDEO, mimeType: 'video/mp4', filename: 'party.mp4' });
    const billInPhoto = (await em().find(Face, { asset: photo.id })).sort((a, b) => a.box.x - b.box.x)[1]!;
    const closeUp = media.path('bill.jpg');
    await writeFile(closeUp, await demoFaceCrop(1, billInPhoto.box));
    closePhoto = await upload(closeUp, { fileType: FileType.IMAGE, mimeType: 'image/jpeg', filename: 'bill.jpg' });
    closeFilm = await upload(await makeStillVideo(closeUp, media.path('bill.mp4')), { fileType: FileType.VIDEO, mimeType: 'video/mp4', filename: 'bill.mp4' });
    memo = await upload(await makeVoiceMemo(media.path('memo.m4a')), { fileType: FileType.AUDIO, mimeType: 'audio/mp4', filename: 'memo.m4a' });

    const faces = (await em().find(Face, { asset: film.id })).sort((a, b) => a.box.x - b.box.x);
    expect(faces.length, 'faces found on the poster').toBeGreaterThanOrEqual(2);
    anna = faces[0]!;
    bill = faces[1]!;
    ok(await asOwner(`mutation($p: ID!) { namePerson(personId: $p, name: "Anna") { id } }`, { p: anna.person!.id }));
    ok(await asOwner(`mutation($p: ID!) { namePerson(personId: $p, name: "Bill") { id } }`, { p: bill.person!.id }));
  }, 300_000);
  afterAll(async () => {
    await engine?.close();
    await files?.close();
    await gql?.stop();
    await queue?.stop();
    await db?.close();
    await media?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it('the film went through the pipeline (posters, preview, placeholder) and its faces, found on poster-1024, joined the photo\'s people', async () => {
    expect(film.fileType).toBe(FileType.VIDEO);
    expect(film.thumbnails.map((t) => t.name).sort()).toEqual(['poster-1024', 'poster-256']);
    expect(film.preview).toMatchObject({ name: 'video', mimeType: 'video/mp4' });
    expect(film.placeholder).toEqual(expect.any(String));
    expect(film.analyses.find((a) => a.task === 'faces')).toMatchObject({ status: 'DONE', provider: 'local', model: 'face-api-ssd-mobilenet' });
    const photoFaces = await em().find(Face, { asset: photo.id });
    const filmFaces = await em().find(Face, { asset: film.id });
    expect(filmFaces).toHaveLength(photoFaces.length);
    // The same people in the film as in the photo: each of the film's faces is in a person with a face of the photo.
    expect(new Set(filmFaces.map((f) => f.person!.id))).toEqual(new Set(photoFaces.map((f) => f.person!.id)));
    // The close-up film's poster shows Bill, and its face joined him.
    expect((await em().find(Face, { asset: closeFilm.id })).map((f) => f.person?.id)).toContain(bill.person!.id);
    // A recording has no pictures to look for faces in.
    expect(memo.analyses.map((a) => a.task)).not.toContain('faces');
  });

  it('before anyone is hidden, the link holder gets what members get', async () => {
    for (const id of [photo.id, film.id]) {
      const seen = await asset(asLinkHolder, id);
      const member = await asset(asOwner, id);
      expect(seen.thumbnails.map((t: any) => t.name)).toEqual(member.thumbnails.map((t: any) => t.name));
      expect(seen.placeholder).toBe(member.placeholder);
      expect(seen.previewUrl).toEqual(expect.any(String));
      expect(seen.originalUrl, 'this link allows originals').toEqual(expect.any(String));
    }
    expect((await asset(asLinkHolder, film.id)).previewMimeType).toBe('video/mp4');
  });

  it('once hidden, before the blurred copies exist: no poster, no film, no original and no placeholder outside the family; members unchanged', async () => {
    ok(await asOwner(`mutation($p: ID!) { hidePerson(personId: $p) { hidden } }`, { p: bill.person!.id }));
    expect((await queue.counts('faces.redact')).created).toBeGreaterThanOrEqual(2);
    for (const id of [photo.id, film.id, closePhoto.id, closeFilm.id]) {
      const seen = await asset(asLinkHolder, id);
      expect(seen).toMatchObject({ thumbnails: [], previewUrl: null, previewMimeType: null, originalUrl: null, placeholder: null });
      expect(seen.faces.every((f: any) => f.person.name !== 'Bill')).toBe(true);
    }
    await expectMembersUnchanged();
  });

  it("after the worker's blurring: the link holder's posters have Bill's face blurred and Anna's as it was, still no film, and a placeholder of the blurred picture", async () => {
    expect(await redactJob(film.id)).toBe('blurred');
    const seen = await asset(asLinkHolder, film.id);
    expect(seen.thumbnails.map((t: any) => t.name).sort()).toEqual([expect.stringMatching(/^poster-1024-blurred-[0-9a-f]{12}$/), expect.stringMatching(/^poster-256-blurred-[0-9a-f]{12}$/)]);
    expect(seen).toMatchObject({ previewUrl: null, previewMimeType: null, originalUrl: null });
    const member = await asset(asOwner, film.id);
    const theirs = await bytesOf(poster(seen, 1024).url);
    const ours = await bytesOf(poster(member, 1024).url);
    const meta = await sharp(theirs).metadata();
    expect(meta).toMatchObject({ format: 'webp', width: poster(member, 1024).width });
    expect(meta.exif).toBeUndefined();
    // The engine's boxes are fractions of poster-1024, so the same box is his face in every poster.
    const billOurs = await regionDetail(ours, inner(bill.box));
    expect(billOurs).toBeGreaterThan(2);
    expect(await regionDetail(theirs, inner(bill.box))).toBeLessThan(billOurs * 0.25);
    const annaOurs = await regionDetail(ours, inner(anna.box));
    expect(Math.abs((await regionDetail(theirs, inner(anna.box))) - annaOurs)).toBeLessThan(annaOurs * 0.2);
    const small = await bytesOf(poster(seen, 256).url);
    expect(await regionDetail(small, inner(bill.box))).toBeLessThan((await regionDetail(await bytesOf(poster(member, 256).url), inner(bill.box))) * 0.4);
    // The blurred copy's placeholder (in a group, his face is too small to change a ThumbHash).
    expect(seen.placeholder).toEqual(expect.any(String));
    expect(aspect(seen.placeholder)).toBeCloseTo(aspect(member.placeholder), 1);
    expect(await redactJob(film.id)).toBe('unchanged');
  });

  it('a close-up photo and a close-up film of him: the placeholder outside the family is the blurred picture\'s, not the member\'s', async () => {
    expect(await redactJob(photo.id)).toBe('blurred');
    for (const a of [closePhoto, closeFilm]) {
      expect(await redactJob(a.id)).toBe('blurred');
      const seen = await asset(asLinkHolder, a.id);
      const member = await asset(asOwner, a.id);
      expect(seen.thumbnails.map((t: any) => t.name).every((n: string) => /-blurred-[0-9a-f]{12}$/.test(n))).toBe(true);
      expect(seen.placeholder).toEqual(expect.any(String));
      expect(member.placeholder).toBe(a.placeholder);
      expect(seen.placeholder).not.toBe(member.placeholder);
      // Drawn out, the two placeholders differ where his face is, and the shape is the same.
      expect(aspect(seen.placeholder)).toBeCloseTo(aspect(member.placeholder), 1);
      expect(placeholderDistance(seen.placeholder, member.placeholder)).toBeGreaterThan(1);
    }
    expect((await asset(asLinkHolder, photo.id)).placeholder).toEqual(expect.any(String));
    await expectMembersUnchanged();
  });

  it('a blurring recorded before placeholders existed gives no placeholder outside the family until the job makes it again', async () => {
    const before = (await asset(asLinkHolder, photo.id)).placeholder;
    const row = await em().findOneOrFail(Asset, photo.id);
    const { placeholder: _dropped, ...old } = row.redaction!;
    await em().nativeUpdate(Asset, { id: photo.id }, { redaction: old });
    const seen = await asset(asLinkHolder, photo.id);
    expect(seen.placeholder).toBeNull();
    expect(seen.thumbnails.map((t: any) => t.name)).toEqual([expect.stringMatching(/^1024-blurred-/), expect.stringMatching(/^256-blurred-/)]);
    expect(await redactJob(photo.id)).toBe('blurred');
    expect((await asset(asLinkHolder, photo.id)).placeholder).toBe(before);
  });

  it('a recording is not affected: the link holder gets its preview', async () => {
    const seen = await asset(asLinkHolder, memo.id);
    expect(seen.previewMimeType).toBe('audio/mp4');
    expect(seen.previewUrl).toEqual(expect.any(String));
  });

  it('unhidden: the blurred copies go and the link holder gets posters, film, original and placeholder again', async () => {
    ok(await asOwner(`mutation($p: ID!) { unhidePerson(personId: $p) { hidden } }`, { p: bill.person!.id }));
    for (const id of [photo.id, film.id, closePhoto.id, closeFilm.id]) {
      expect(await redactJob(id)).toBe('cleared');
      const seen = await asset(asLinkHolder, id);
      const member = await asset(asOwner, id);
      expect(seen.thumbnails.map((t: any) => t.name)).toEqual(member.thumbnails.map((t: any) => t.name));
      expect(seen.placeholder).toBe(member.placeholder);
      expect(seen.previewUrl).toEqual(expect.any(String));
      expect(seen.originalUrl).toEqual(expect.any(String));
      expect(seen.faces.map((f: any) => f.person.name)).toContain('Bill');
    }
    expect((await asset(asLinkHolder, film.id)).previewMimeType).toBe('video/mp4');
    const keys: string[] = [];
    for await (const obj of storage.list(`chests/${chest.id}/derivatives/${film.id}/`)) keys.push(obj.key);
    expect(keys.some((k) => k.includes('-blurred-'))).toBe(false);
  });

  /** Owners and viewers get the memory's own posters, film, original and placeholder whatever is hidden. */
  async function expectMembersUnchanged(): Promise<void> {
    for (const as of [asOwner, asViewer]) {
      const seenFilm = await asset(as, film.id);
      expect(seenFilm.thumbnails.map((t: any) => t.name).sort()).toEqual(['poster-1024', 'poster-256']);
      expect(seenFilm.placeholder).toBe(film.placeholder);
      expect(seenFilm.previewMimeType).toBe('video/mp4');
      const seenPhoto = await asset(as, photo.id);
      expect(seenPhoto.thumbnails.map((t: any) => t.name)).toEqual(['1024', '256']);
      expect(seenPhoto.placeholder).toBe(photo.placeholder);
    }
    expect((await asset(asOwner, film.id)).originalUrl).toEqual(expect.any(String));
  }
});

/** The middle of a face box: the face itself, without the background its corners catch. */
const inner = (b: RelativeBox): RelativeBox => ({ x: b.x + b.width * 0.2, y: b.y + b.height * 0.2, width: b.width * 0.6, height: b.height * 0.6 });
/** Mean absolute difference of the grey values of two ThumbHashes drawn out (same size). */
const placeholderDistance = (a: string, b: string): number => {
  const x = thumbHashToRGBA(Buffer.from(a, 'base64'));
  const y = thumbHashToRGBA(Buffer.from(b, 'base64'));
  if (x.w !== y.w || x.h !== y.h) return Infinity;
  let sum = 0;
  for (let i = 0; i < x.rgba.length; i += 4) sum += Math.abs((x.rgba[i]! + x.rgba[i + 1]! + x.rgba[i + 2]!) - (y.rgba[i]! + y.rgba[i + 1]! + y.rgba[i + 2]!)) / 3;
  return sum / (x.rgba.length / 4);
};
/** Width over height of the picture a ThumbHash encodes. */
const aspect = (hash: string): number => {
  const { w, h } = thumbHashToRGBA(Buffer.from(hash, 'base64'));
  return w / h;
};
