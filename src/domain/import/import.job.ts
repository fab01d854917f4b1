import { createHash, randomUUID } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import sharp from 'sharp';
import type yauzl from 'yauzl';
import { z } from 'zod';
import { Account, Asset, Chest, ChestImport, Contribution, DuplicateDismissal, Face, Membership, Person, Story } from '../../db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ImportStatus, ProcessingStatus, StoryStatus, StoryStyle, TagSource } from '../../db/enums.js';
import type { JobContext } from '../../jobs/jobs.port.js';
import type { Logger } from '../../logger.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { ARCHIVE_FORMAT } from '../export/chest-record.js';
import { newToken } from '../tokens.js';
import { openArchive } from './archive-reader.js';
import { type ImportedFileFacts, importedFileFacts } from './imported-file.js';
import { SNIFF_BYTES } from '../../media/file-policy.js';
import { indexStories } from '../search/story-entries.js';

export interface ImportDeps {
  orm: MikroORM;
  storage: StorageBackend;
  log: Logger;
}

/** Limits on what an archive may hold: beyond them it is refused, whatever chest.json says. */
export const IMPORT_LIMITS = {
  /** Entries in the ZIP. */
  maxEntries: 100_000,
  /** Bytes of all entries once unpacked. */
  maxUnpackedBytes: 64 * 1024 ** 3,
  /** chest.json, read whole (it holds records, not files). */
  maxRecordBytes: 256 * 1024 ** 2,
  /** A thumbnail, read whole to learn its size. */
  maxThumbnailBytes: 16 * 1024 ** 2,
  /** Unpacked bytes per packed byte of one deflated entry: real files stay far below, bombs far above. */
  maxRatio: 200,
};

/** Why an archive is refused: a stable code for clients, and words for people. */
export class ArchiveRefused extends Error {
  constructor(
    readonly code: 'ARCHIVE_INVALID' | 'ARCHIVE_TOO_LARGE' | 'ARCHIVE_UNSAFE_PATH' | 'ARCHIVE_BOMB' | 'ARCHIVE_FORMAT' | 'ARCHIVE_CORRUPT',
    message: string,
  ) {
    super(message);
    this.name = 'ArchiveRefused';
  }
}

const iso = z.string().max(40).nullable();
const ids = z.array(z.string()).default([]);
const cited = z.object({ assetIds: ids }).loose();
const instant = z.string().max(40).refine((s) => !Number.isNaN(Date.parse(s)), 'not a date');
/** Who contributed each copy merged into a memory; absent from archives made before it was exported. */
const mergedFrom = z.array(z.object({ kind: z.enum(['MEMBER', 'GUEST']), name: z.string().max(200).nullable(), contributionId: z.string().nullable(), mergedAt: instant })).max(10_000).default([]);
/** What the import reads of chest.json (format digital-memory-chest/1); other fields are ignored. */
const recordSchema = z.object({
  format: z.literal(ARCHIVE_FORMAT),
  chest: z.object({ id: z.string(), personName: z.string().min(1).max(200), description: z.string().max(5000).nullable(), birthDate: iso, passingDate: iso, heroImageId: z.string().nullable(), publishedStoryId: z.string().nullable() }),
  memories: z.array(
    z.object({
      id: z.string(),
      file: z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/), thumbnail: z.string().nullable() }),
      filename: z.string().min(1).max(255),
      fileType: z.enum(FileType),
      mimeType: z.string().min(1).max(127),
      status: z.enum(ProcessingStatus),
      dateTaken: iso,
      place: z.string().max(200).nullable(),
      location: z.object({ latitude: z.number(), longitude: z.number() }).loose().nullable(),
      width: z.number().int().nullable(),
      height: z.number().int().nullable(),
      durationSeconds: z.number().nullable(),
      caption: z.string().max(2000).nullable(),
      tags: z.array(z.object({ name: z.string(), source: z.enum(TagSource), confidence: z.number() })),
      transcription: z.object({ text: z.string(), segments: z.array(z.object({ start: z.number(), end: z.number(), text: z.string() })) }).loose().nullable(),
      extractedText: z.string().nullable(),
      mediaInfo: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).nullable(),
      waveform: z.array(z.number()).nullable(),
      perceptualHash: z.string().length(16).nullable(),
      placeholder: z.string().max(64).nullable(),
      analyses: z.array(z.object({ task: z.string(), status: z.string(), provider: z.string().nullable(), model: z.string().nullable(), error: z.string().nullable(), at: z.string() }).loose()).default([]),
      contributionId: z.string().nullable(),
      mergedFrom,
      createdAt: z.string(),
    }),
  ),
  people: z.array(
    z.object({
      id: z.string(),
      name: z.string().max(200).nullable(),
      hidden: z.boolean(),
      coverFaceId: z.string().nullable(),
      faces: z.array(z.object({ id: z.string(), memoryId: z.string(), box: z.object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() }), atSeconds: z.number().nullable(), score: z.number(), assignedByPerson: z.boolean(), descriptor: z.string() })),
    }),
  ),
  stories: z.array(
    z.object({
      id: z.string(),
      lineageId: z.string().nullable(),
      version: z.number().int().positive(),
      title: z.string().max(300),
      style: z.enum(StoryStyle),
      published: z.boolean(),
      content: z.string(),
      paragraphs: z.array(z.object({ text: z.string(), assetIds: ids })),
      timeline: z.array(cited.extend({ date: z.string(), title: z.string() })),
      themes: z.array(cited.extend({ name: z.string() })),
      includeTimeline: z.boolean(),
      includeThemes: z.boolean(),
      generation: z.object({ provider: z.string(), model: z.string(), generatedAt: z.string() }).loose().nullable(),
      editedBy: z.string().nullable(),
      createdAt: z.string(),
    }),
  ),
  contributions: z.array(z.object({ id: z.string(), contributorName: z.string().min(1).max(200), relationship: z.string().nullable(), message: z.string().nullable(), reviewedAt: iso, createdAt: z.string() })),
  /** Pairs of memories an owner said are not copies; absent from archives made before it was exported. */
  dismissedDuplicates: z.array(z.tuple([z.string(), z.string()])).default([]),
});
type ImportedRecord = z.infer<typeof recordSchema>;

/**
 * The chest.import job. Reads the ZIP from storage by ranges (never whole), checks every entry
 * before any byte is written (count, names, sizes, packing ratio), reads chest.json, then streams
 * each original into the new chest's storage checking its SHA-256 against chest.json. Every row
 * (chest, owner, memories, people and faces, stories with their versions and remapped citations,
 * approved contributions) is written in one transaction at the end: a refused or failed import
 * leaves no chest, and its files are deleted. A refused archive is final (no retry); storage or
 * database trouble is thrown for the queue to try again.
 */
export async function readImport(deps: ImportDeps, job: JobContext<{ importId: string }>): Promise<void> {
  const em = deps.orm.em.fork();
  const row = await em.findOne(ChestImport, { id: job.data.importId });
  if (!row || row.status === ImportStatus.DONE || row.status === ImportStatus.FAILED) return;
  await em.nativeUpdate(ChestImport, { id: row.id }, { status: ImportStatus.RUNNING, progress: 0 });
  const written: string[] = [];
  try {
    const chestId = await importArchive(deps, em, row, written);
    await deps.storage.delete(row.archiveKey);
    deps.log.info({ importId: row.id, chestId }, 'chest imported');
  } catch (err) {
    await Promise.all(written.map((key) => deps.storage.delete(key).catch(() => undefined)));
    if (!(err instanceof ArchiveRefused)) {
      deps.log.warn({ err, importId: row.id }, 'import attempt failed; it is tried again');
      throw err;
    }
    await em.nativeUpdate(ChestImport, { id: row.id, status: ImportStatus.RUNNING }, { status: ImportStatus.FAILED, errorCode: err.code, error: err.message });
    await deps.storage.delete(row.archiveKey);
  }
}

/** The chest.import.failed job: the attempts ran out (storage or database kept failing). */
export async function recordImportGaveUp(deps: Pick<ImportDeps, 'orm'>, importId: string): Promise<void> {
  await deps.orm.em
    .fork()
    .nativeUpdate(ChestImport, { id: importId, status: { $in: [ImportStatus.QUEUED, ImportStatus.RUNNING] } }, { status: ImportStatus.FAILED, errorCode: 'IMPORT_FAILED', error: 'The archive could not be read after several attempts; try again later' });
}

async function importArchive(deps: ImportDeps, em: EntityManager, row: ChestImport, written: string[]): Promise<string> {
  const zip = await openArchive(deps.storage, row.archiveKey).catch((err: unknown) => {
    throw new ArchiveRefused('ARCHIVE_INVALID', `The file is not a readable ZIP archive (${err instanceof Error ? err.message : String(err)})`);
  });
  try {
    const entries = await checkedEntries(zip);
    const recordEntry = entries.get('chest.json');
    if (!recordEntry) throw new ArchiveRefused('ARCHIVE_FORMAT', 'The archive has no chest.json');
    if (recordEntry.uncompressedSize > IMPORT_LIMITS.maxRecordBytes) throw new ArchiveRefused('ARCHIVE_TOO_LARGE', 'chest.json is too large');
    let parsed: unknown;
    try {
      parsed = JSON.parse((await readWhole(zip, recordEntry, IMPORT_LIMITS.maxRecordBytes)).toString('utf8'));
    } catch {
      throw new ArchiveRefused('ARCHIVE_FORMAT', 'chest.json is not valid JSON');
    }
    const checked = recordSchema.safeParse(parsed);
    if (!checked.success) {
      const format = (parsed as { format?: unknown } | null)?.format;
      throw new ArchiveRefused('ARCHIVE_FORMAT', format !== ARCHIVE_FORMAT ? `Unknown archive format ${JSON.stringify(format)}: this server reads ${ARCHIVE_FORMAT}` : `chest.json does not match ${ARCHIVE_FORMAT}: ${checked.error.issues[0]?.path.join('.')}`);
    }
    const record = checked.data;
    for (const m of record.memories) {
      const entry = entries.get(m.file.path);
      if (!entry) throw new ArchiveRefused('ARCHIVE_CORRUPT', `chest.json names ${m.file.path}, which the archive does not hold`);
      if (entry.uncompressedSize !== m.file.size) throw new ArchiveRefused('ARCHIVE_CORRUPT', `${m.file.path} is not the size chest.json gives`);
    }
    if (new Set(record.memories.map((m) => m.id)).size !== record.memories.length) throw new ArchiveRefused('ARCHIVE_FORMAT', 'chest.json lists a memory twice');

    // Files first, rows last: until the transaction commits there is no chest to see.
    const chestId = randomUUID();
    const assetIds = new Map(record.memories.map((m) => [m.id, randomUUID()]));
    const total = record.memories.reduce((n, m) => n + m.file.size, 0) || 1;
    let done = 0;
    const stored = new Map<string, StoredFile>();
    for (const m of record.memories) {
      const assetId = assetIds.get(m.id)!;
      const storageKey = `chests/${chestId}/originals/${assetId}`;
      // What the file is comes from its bytes, as on upload: chest.json may describe an original the archive holds a copy of.
      const facts = await importedFileFacts({ head: await readHead(zip, entries.get(m.file.path)!), declaredMime: m.mimeType, filename: m.filename });
      if (!facts) throw new ArchiveRefused('ARCHIVE_CORRUPT', `${m.file.path} is not the kind of file chest.json says, or no kind of file a chest keeps`);
      const hash = createHash('sha256');
      const hashing = new Transform({ transform: (chunk: Buffer, _e, next) => next(null, (hash.update(chunk), chunk)) });
      const source = await zip.openReadStreamPromise(entries.get(m.file.path)!);
      source.on('error', (err) => hashing.destroy(err));
      written.push(storageKey);
      await deps.storage.put(storageKey, source.pipe(hashing), { size: m.file.size, contentType: facts.mimeType }).catch((err: unknown) => {
        if (/unexpected number of bytes|invalid|crc|too many/i.test(String((err as Error)?.message))) throw new ArchiveRefused('ARCHIVE_CORRUPT', `${m.file.path} could not be read: ${(err as Error).message}`);
        throw err;
      });
      if (hash.digest('hex') !== m.file.sha256) throw new ArchiveRefused('ARCHIVE_CORRUPT', `${m.file.path} does not match its SHA-256 in chest.json`);
      const thumbnail = m.file.thumbnail && entries.get(m.file.thumbnail) ? await storeThumbnail(deps.storage, zip, entries.get(m.file.thumbnail)!, chestId, assetId, written) : [];
      stored.set(m.id, { storageKey, thumbnail, ...facts });
      done += m.file.size;
      await em.nativeUpdate(ChestImport, { id: row.id }, { progress: Math.min(95, Math.floor((done / total) * 95)) });
    }
    await createRecords(em, { row, record, chestId, assetIds, stored });
    return chestId;
  } finally {
    zip.close();
  }
}

/** Every entry, by name, once the whole central directory has passed the checks. */
async function checkedEntries(zip: yauzl.ZipFile): Promise<Map<string, yauzl.Entry>> {
  if (zip.entryCount > IMPORT_LIMITS.maxEntries) throw new ArchiveRefused('ARCHIVE_TOO_LARGE', `The archive holds more than ${IMPORT_LIMITS.maxEntries} entries`);
  const entries = new Map<string, yauzl.Entry>();
  let unpacked = 0;
  try {
    for await (const entry of zip.eachEntry()) {
      const name = entry.fileName;
      if (name.endsWith('/')) continue;
      if (entries.has(name)) throw new ArchiveRefused('ARCHIVE_INVALID', `The archive holds ${name} twice`);
      unpacked += entry.uncompressedSize;
      if (unpacked > IMPORT_LIMITS.maxUnpackedBytes) throw new ArchiveRefused('ARCHIVE_TOO_LARGE', 'The archive unpacks to more than the limit');
      if (entry.compressionMethod !== 0 && entry.uncompressedSize > Math.max(entry.compressedSize, 1) * IMPORT_LIMITS.maxRatio) {
        throw new ArchiveRefused('ARCHIVE_BOMB', `${name} unpacks to more than ${IMPORT_LIMITS.maxRatio} times its packed size`);
      }
      entries.set(name, entry);
    }
  } catch (err) {
    if (err instanceof ArchiveRefused) throw err;
    // yauzl refuses absolute paths, "..", backslashes and malformed names before they reach here.
    const message = err instanceof Error ? err.message : String(err);
    if (/absolute path|invalid relative path|invalid characters/i.test(message)) throw new ArchiveRefused('ARCHIVE_UNSAFE_PATH', `The archive holds an unsafe path: ${message}`);
    throw new ArchiveRefused('ARCHIVE_INVALID', `The archive is damaged: ${message}`);
  }
  return entries;
}

/** The first bytes of an entry, enough for the sniffer: a stored entry (as exports write them) is read by that range alone. */
async function readHead(zip: yauzl.ZipFile, entry: yauzl.Entry): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  const range = entry.compressionMethod === 0 ? { start: 0, end: Math.min(entry.uncompressedSize, SNIFF_BYTES) } : {};
  const stream = await zip.openReadStreamPromise(entry, range).catch((err: unknown) => {
    throw new ArchiveRefused('ARCHIVE_CORRUPT', `${entry.fileName} could not be read: ${err instanceof Error ? err.message : String(err)}`);
  });
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= SNIFF_BYTES) break;
    }
  } catch (err) {
    throw new ArchiveRefused('ARCHIVE_CORRUPT', `${entry.fileName} could not be read: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, SNIFF_BYTES);
}

async function readWhole(zip: yauzl.ZipFile, entry: yauzl.Entry, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of await zip.openReadStreamPromise(entry)) {
    size += (chunk as Buffer).length;
    if (size > max) throw new ArchiveRefused('ARCHIVE_TOO_LARGE', `${entry.fileName} is too large`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The archive's thumbnail as the memory's one thumbnail (until it is processed again), when sharp reads it as a picture. */
async function storeThumbnail(storage: StorageBackend, zip: yauzl.ZipFile, entry: yauzl.Entry, chestId: string, assetId: string, written: string[]): Promise<Asset['thumbnails']> {
  if (entry.uncompressedSize > IMPORT_LIMITS.maxThumbnailBytes) return [];
  const bytes = await readWhole(zip, entry, IMPORT_LIMITS.maxThumbnailBytes);
  const meta = await sharp(bytes).metadata().catch(() => null);
  if (!meta?.width || !meta.height || meta.format !== 'webp') return [];
  const storageKey = `chests/${chestId}/derivatives/${assetId}/thumb-import`;
  written.push(storageKey);
  await storage.put(storageKey, Readable.from([bytes]), { size: bytes.length, contentType: 'image/webp' });
  return [{ name: 'thumb-import', width: meta.width, height: meta.height, mimeType: 'image/webp', storageKey }];
}

interface CreateRecordsInput {
  row: ChestImport;
  record: ImportedRecord;
  chestId: string;
  /** Old memory id → new. */
  assetIds: Map<string, string>;
  stored: Map<string, StoredFile>;
}

/** A memory's file in the new chest's storage, and what its bytes are. */
interface StoredFile extends ImportedFileFacts {
  storageKey: string;
  thumbnail: Asset['thumbnails'];
}

/** Every row of the new chest in one transaction, ids remapped; DONE in the same transaction. */
async function createRecords(em: EntityManager, { row, record, chestId, assetIds, stored }: CreateRecordsInput): Promise<void> {
  const date = (s: string | null) => (s ? new Date(s) : null);
  const remap = (list: string[]) => list.map((id) => assetIds.get(id)).filter((id): id is string => id !== undefined);
  await em.transactional(async (tx) => {
    const chest = tx.create(Chest, { id: chestId, personName: record.chest.personName, description: record.chest.description, birthDate: record.chest.birthDate, passingDate: record.chest.passingDate } as never);
    tx.create(Membership, { chest, account: tx.getReference(Account, row.account.id), role: ChestRole.OWNER });
    const contributions = new Map<string, Contribution>();
    for (const c of record.contributions) {
      // Approved long ago, elsewhere: no guest can reach it again (a token nobody holds).
      contributions.set(c.id, tx.create(Contribution, { chest, contributorName: c.contributorName, relationship: c.relationship, message: c.message, status: ContributionStatus.APPROVED, reviewedAt: date(c.reviewedAt), guestTokenHash: newToken().hash, createdAt: new Date(c.createdAt) } as never));
    }
    const assets = new Map<string, Asset>();
    for (const m of record.memories) {
      const files = stored.get(m.id)!;
      assets.set(
        m.id,
        tx.create(Asset, {
          id: assetIds.get(m.id)!,
          chest,
          contribution: m.contributionId ? (contributions.get(m.contributionId) ?? null) : null,
          addedBy: m.contributionId ? null : row.account.id,
          // Name, kind and type of the bytes stored (importedFileFacts); size and hash of the entry, checked against file.size and file.sha256.
          filename: files.filename,
          storageKey: files.storageKey,
          fileType: files.fileType,
          size: m.file.size,
          mimeType: files.mimeType,
          sha256: m.file.sha256,
          // A memory exported before processing finished has no job here: FAILED, so an owner can retry it.
          status: m.status === ProcessingStatus.COMPLETE || m.status === ProcessingStatus.FAILED ? m.status : ProcessingStatus.FAILED,
          processingError: m.status === ProcessingStatus.COMPLETE || m.status === ProcessingStatus.FAILED ? null : 'Imported before it was processed: process it again (retryProcessing)',
          dateTaken: date(m.dateTaken),
          place: m.place,
          location: m.location ? { latitude: m.location.latitude, longitude: m.location.longitude } : null,
          width: m.width,
          height: m.height,
          durationSeconds: m.durationSeconds,
          caption: m.caption,
          tags: m.tags,
          transcription: m.transcription,
          extractedText: m.extractedText,
          mediaInfo: m.mediaInfo,
          waveform: m.waveform,
          perceptualHash: m.perceptualHash,
          placeholder: m.placeholder,
          analyses: m.analyses,
          // The copies are not in the archive (they were in the bin): their ids name nothing here, as a
          // purged copy's do. Accounts are not portable, so a member is known by the name the archive gave.
          mergedFrom: m.mergedFrom.map((c) => ({
            assetId: randomUUID(),
            contributionId: (c.contributionId && contributions.get(c.contributionId)?.id) || null,
            accountId: null,
            mergedAt: new Date(c.mergedAt).toISOString(),
            imported: { kind: c.kind, name: c.name },
          })),
          thumbnails: files.thumbnail,
          processedAt: m.status === ProcessingStatus.COMPLETE ? new Date() : null,
          createdAt: new Date(m.createdAt),
        } as never),
      );
    }
    await tx.flush();
    // Dismissed pairs, smaller id first as dismissDuplicates writes them; a pair naming a memory not in the archive is skipped.
    const pairs = new Set<string>();
    for (const pair of record.dismissedDuplicates) {
      const [first, second] = pair.map((id) => assetIds.get(id)).sort() as (string | undefined)[];
      if (!first || !second || first === second || pairs.has(`${first}:${second}`)) continue;
      pairs.add(`${first}:${second}`);
      tx.create(DuplicateDismissal, { chest, firstAsset: first, secondAsset: second, dismissedBy: null });
    }
    for (const p of record.people) {
      const person = tx.create(Person, { chest, name: p.name, hidden: p.hidden } as never);
      for (const f of p.faces) {
        const asset = assets.get(f.memoryId);
        const descriptor = Buffer.from(f.descriptor, 'base64');
        // 128 float32 numbers, or the face is left out: face matching reads exactly that.
        if (!asset || descriptor.length !== 512) continue;
        const face = tx.create(Face, { asset, chest, person, box: f.box, atSeconds: f.atSeconds, score: f.score, assignedByPerson: f.assignedByPerson, descriptor } as never);
        if (f.id === p.coverFaceId) person.coverFaceId = face.id;
      }
    }
    const storyIds = new Map(record.stories.map((s) => [s.id, randomUUID()]));
    for (const s of record.stories) {
      const story = tx.create(Story, {
        id: storyIds.get(s.id)!,
        chest,
        title: s.title,
        style: s.style,
        status: StoryStatus.READY,
        version: s.version,
        lineageId: (s.lineageId && storyIds.get(s.lineageId)) ?? storyIds.get(s.id)!,
        published: s.published,
        content: s.content,
        paragraphs: s.paragraphs.map((p) => ({ text: p.text, assetIds: remap(p.assetIds) })),
        timeline: s.timeline.map((t) => ({ ...t, assetIds: remap(t.assetIds) })),
        themes: s.themes.map((t) => ({ ...t, assetIds: remap(t.assetIds) })),
        includeTimeline: s.includeTimeline,
        includeThemes: s.includeThemes,
        generation: s.generation ? { ...s.generation, generatedAt: new Date(s.generation.generatedAt) } : null,
        editedBy: s.editedBy,
        createdAt: new Date(s.createdAt),
      } as never);
      if (s.id === record.chest.publishedStoryId) chest.publishedStory = story;
    }
    if (record.chest.heroImageId) chest.heroImage = assets.get(record.chest.heroImageId) ?? null;
    await tx.flush();
    // Search: the other rows are indexed by their triggers; stories as read, hidden names rewritten.
    await indexStories(tx, { chestIds: [chestId] });
    await tx.nativeUpdate(ChestImport, { id: row.id }, { status: ImportStatus.DONE, progress: 100, chest: chestId });
  });
}
