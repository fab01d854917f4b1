import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { EntityManager } from '@mikro-orm/postgresql';
import sharp from 'sharp';
import { Asset, type Chest, Face, Person } from '../../src/db/entities/index.js';
import { ContributionStatus, FileType, ProcessingStatus, StoryStatus, TagSource } from '../../src/db/enums.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { ffmpegPath } from '../../src/media/ffmpeg.js';
import { makeContribution, makeStory } from '../support/factories.js';
import { jpegWithExif, pdf } from '../support/media.js';

const run = promisify(execFile);

/** Whitby, where the photo and the recording were made: what a location-free export must not hold. */
export const WHITBY = { latitude: 54.4858, longitude: -0.6206 };
export const STORY_TEXT = 'Rose walked the length of Whitby beach every summer and knew every fisherman by name.';
/** File names that say where (the product treats a file name as location-revealing). */
export const STREET_FILENAME = '12 Rosebank Lane.jpg';
export const STREET_RECORDING_FILENAME = 'Mum at 4 Harbour Street.wav';
export const SCRIPT_CAPTION = '<script>window.hacked = true</script> the pier';

export interface SeededChest {
  /** Memories an export must hold, by role. */
  photo: Asset;
  samePlace: Asset;
  scriptPhoto: Asset;
  recording: Asset;
  document: Asset;
  contributed: Asset;
  /** Without a caption, named for where they were made (what an export without locations must not show). */
  street: Asset;
  streetRecording: Asset;
  /** Memories it must not hold. */
  binned: Asset;
  pending: Asset;
  rejected: Asset;
  included: Asset[];
}

async function store(em: EntityManager, storage: StorageBackend, chest: Chest, bytes: Buffer, over: Partial<Asset>): Promise<Asset> {
  const id = randomUUID();
  const storageKey = `chests/${chest.id}/originals/${id}`;
  await storage.put(storageKey, Readable.from([bytes]), { size: bytes.length });
  const asset = em.create(Asset, {
    id,
    chest,
    storageKey,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    status: ProcessingStatus.COMPLETE,
    filename: 'file',
    fileType: FileType.IMAGE,
    mimeType: 'image/jpeg',
    ...over,
  } as never);
  await em.flush();
  return asset;
}

/** A thumbnail as the pipeline makes them: a metadata-free WebP under the memory's derivatives. */
async function addThumbnail(em: EntityManager, storage: StorageBackend, asset: Asset, original: Buffer): Promise<void> {
  const bytes = await sharp(original).rotate().resize(320).webp().toBuffer();
  const meta = await sharp(bytes).metadata();
  const storageKey = `chests/${asset.chest.id}/derivatives/${asset.id}/thumb-320`;
  await storage.put(storageKey, Readable.from([bytes]), { size: bytes.length });
  asset.thumbnails = [{ name: 'thumb-320', width: meta.width!, height: meta.height!, mimeType: 'image/webp', storageKey }];
  await em.flush();
}

/**
 * A chest as a family leaves it: three photos (one with GPS in its EXIF, two of the same day and
 * caption, one captioned with markup), a voice memo with GPS in its metadata and a metadata-free
 * preview, a PDF letter, a person with a face, two versions of a story (the second published),
 * an approved contribution's memory; and what an archive leaves out: a binned memory, a pending
 * and a rejected guest's.
 */
export async function seedChest(em: EntityManager, storage: StorageBackend, chest: Chest): Promise<SeededChest> {
  const day = new Date('1987-06-12T15:00:00Z');
  const gpsJpeg = await jpegWithExif({ dateTimeOriginal: '1987:06:12 15:00:00', ...WHITBY, make: 'Kodak', model: 'Instamatic' });
  const photo = await store(em, storage, chest, gpsJpeg, { filename: 'IMG_0001.JPG', caption: 'Whitby beach', dateTaken: day, place: 'Whitby', location: { ...WHITBY }, width: 640, height: 480, tags: [{ name: 'beach', source: TagSource.USER, confidence: 1 }] } as Partial<Asset>);
  await addThumbnail(em, storage, photo, gpsJpeg);
  const second = await jpegWithExif({ dateTimeOriginal: '1987:06:12 16:00:00' }, 480, 360, '#48c');
  const samePlace = await store(em, storage, chest, second, { filename: 'IMG_0002.JPG', caption: 'Whitby beach', dateTaken: day, width: 480, height: 360 });
  await addThumbnail(em, storage, samePlace, second);
  const third = await sharp({ create: { width: 300, height: 200, channels: 3, background: '#a52' } }).png().toBuffer();
  const scriptPhoto = await store(em, storage, chest, third, { filename: 'pier.png', mimeType: 'image/png', caption: SCRIPT_CAPTION, dateTaken: new Date('1992-08-01T10:00:00Z'), width: 300, height: 200 });
  await addThumbnail(em, storage, scriptPhoto, third);
  const fourth = await jpegWithExif({ dateTimeOriginal: '2001:05:03 11:00:00' }, 320, 240, '#6a4');
  const street = await store(em, storage, chest, fourth, { filename: STREET_FILENAME, dateTaken: new Date('2001-05-03T11:00:00Z'), width: 320, height: 240 });
  await addThumbnail(em, storage, street, fourth);

  const dir = await mkdtemp(join(tmpdir(), 'dmc-seed-'));
  try {
    const memo = join(dir, 'memo.m4a');
    const preview = join(dir, 'preview.m4a');
    await run(ffmpegPath(), ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-c:a', 'aac', '-b:a', '64k', '-metadata', 'location=+54.4858-000.6206/', memo]);
    await run(ffmpegPath(), ['-loglevel', 'error', '-y', '-i', memo, '-map_metadata', '-1', '-c:a', 'aac', '-b:a', '64k', preview]);
    const memoBytes = await readFile(memo);
    const previewBytes = await readFile(preview);
    const recording = await store(em, storage, chest, memoBytes, {
      filename: 'Voice memo 12.m4a',
      fileType: FileType.AUDIO,
      mimeType: 'audio/mp4',
      durationSeconds: 2,
      location: { ...WHITBY },
      transcription: { text: 'We went down to the harbour.', language: 'en', segments: [{ start: 0, end: 2, text: 'We went down to the harbour.' }], rough: false },
    } as Partial<Asset>);
    const previewKey = `chests/${chest.id}/derivatives/${recording.id}/audio`;
    await storage.put(previewKey, Readable.from([previewBytes]), { size: previewBytes.length });
    recording.preview = { name: 'audio', mimeType: 'audio/mp4', size: previewBytes.length, storageKey: previewKey };
    await em.flush();

    // A WAV whose location-free copy is its m4a preview: another type than the original's.
    const wav = join(dir, 'street.wav');
    const wavPreview = join(dir, 'street-preview.m4a');
    await run(ffmpegPath(), ['-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'sine=frequency=330:duration=1', wav]);
    await run(ffmpegPath(), ['-loglevel', 'error', '-y', '-i', wav, '-map_metadata', '-1', '-c:a', 'aac', '-b:a', '64k', wavPreview]);
    const wavPreviewBytes = await readFile(wavPreview);
    const streetRecording = await store(em, storage, chest, await readFile(wav), { filename: STREET_RECORDING_FILENAME, fileType: FileType.AUDIO, mimeType: 'audio/wav', durationSeconds: 1 } as Partial<Asset>);
    const wavPreviewKey = `chests/${chest.id}/derivatives/${streetRecording.id}/audio`;
    await storage.put(wavPreviewKey, Readable.from([wavPreviewBytes]), { size: wavPreviewBytes.length });
    streetRecording.preview = { name: 'audio', mimeType: 'audio/mp4', size: wavPreviewBytes.length, storageKey: wavPreviewKey };
    await em.flush();

    const document = await store(em, storage, chest, pdf(), { filename: 'letter to Rose.pdf', fileType: FileType.DOCUMENT, mimeType: 'application/pdf', extractedText: 'Dear Rose, the summer was long.' });

    const approved = await makeContribution(em, chest, { contributorName: 'Aunt May', message: 'From the album', status: ContributionStatus.APPROVED, reviewedAt: new Date() });
    const pendingC = await makeContribution(em, chest, { contributorName: 'Someone', message: 'pending message' });
    const rejectedC = await makeContribution(em, chest, { contributorName: 'Other', status: ContributionStatus.REJECTED });
    const tiny = (c: string) => sharp({ create: { width: 40, height: 30, channels: 3, background: c } }).jpeg().toBuffer();
    const contributed = await store(em, storage, chest, await tiny('#393'), { filename: 'may.jpg', contribution: approved, caption: 'Rose at the fair' });
    const pending = await store(em, storage, chest, await tiny('#933'), { filename: 'pending.jpg', contribution: pendingC, caption: 'PENDING-CAPTION' });
    const rejected = await store(em, storage, chest, await tiny('#339'), { filename: 'rejected.jpg', contribution: rejectedC, caption: 'REJECTED-CAPTION' });
    const binned = await store(em, storage, chest, await tiny('#999'), { filename: 'binned.jpg', caption: 'BINNED-CAPTION', deletedAt: new Date() });

    const person = em.create(Person, { chest, name: 'Rose' });
    const face = em.create(Face, { asset: photo, chest, person, box: { x: 0.1, y: 0.1, width: 0.2, height: 0.2 }, score: 0.93, descriptor: Buffer.alloc(512, 7) } as never);
    await em.flush();
    person.coverFaceId = face.id;

    const first = await makeStory(em, chest, { title: 'First draft', status: StoryStatus.READY, content: 'An early draft.', paragraphs: [{ text: 'An early draft.', assetIds: [photo.id, binned.id] }] });
    first.lineageId = first.id;
    const published = await makeStory(em, chest, {
      title: 'The story of Rose',
      status: StoryStatus.READY,
      version: 2,
      lineageId: first.id,
      published: true,
      content: STORY_TEXT,
      paragraphs: [{ text: STORY_TEXT, assetIds: [photo.id, recording.id] }],
      timeline: [{ date: '1987-06-12', title: 'Whitby', assetIds: [photo.id] }],
    });
    chest.publishedStory = published;
    chest.heroImage = photo;
    chest.birthDate = '1931-03-02';
    chest.passingDate = '2019-11-20';
    await em.flush();
    const included = [photo, samePlace, scriptPhoto, recording, document, contributed, street, streetRecording];
    return { photo, samePlace, scriptPhoto, recording, document, contributed, street, streetRecording, binned, pending, rejected, included };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function bytesOf(storage: StorageBackend, asset: Asset): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await storage.get(asset.storageKey)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Copies for the duplicates' records: a guest's copy of the photo in the approved contribution
 * (for resolveDuplicates to merge into it), and a member's second upload of the letter (for
 * dismissDuplicates). Added a second after their originals, so the export's order is the same
 * whatever their ids.
 */
export async function seedCopies(em: EntityManager, storage: StorageBackend, chest: Chest, seeded: SeededChest): Promise<{ guestCopy: Asset; letterCopy: Asset }> {
  const later = (a: Asset) => new Date(a.createdAt.getTime() + 1000);
  const guestCopy = await store(em, storage, chest, await bytesOf(storage, seeded.photo), {
    filename: 'from May.jpg',
    contribution: seeded.contributed.contribution,
    caption: 'Rose on the sand',
    width: 640,
    height: 480,
    createdAt: later(seeded.photo),
  } as Partial<Asset>);
  const letterCopy = await store(em, storage, chest, await bytesOf(storage, seeded.document), {
    filename: 'letter to Rose (scan).pdf',
    fileType: FileType.DOCUMENT,
    mimeType: 'application/pdf',
    extractedText: 'Dear Rose, the summer was long.',
    createdAt: later(seeded.document),
  } as Partial<Asset>);
  return { guestCopy, letterCopy };
}
