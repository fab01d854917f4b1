import { createHash } from 'node:crypto';
import { type PassThrough, Readable, Transform } from 'node:stream';
import type { MikroORM } from '@mikro-orm/postgresql';
import yazl from 'yazl';
import { type Asset, ChestExport } from '../../db/entities/index.js';
import { ExportStatus, FileType } from '../../db/enums.js';
import { type EventBus, topics } from '../../events/events.port.js';
import type { JobContext } from '../../jobs/jobs.port.js';
import type { Logger } from '../../logger.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { ArchiveNames, extensionOf } from './archive-names.js';
import { indexHtml, storyMarkdown, storyPage, storyToTell } from './archive-pages.js';
import { type ArchiveFile, chestRecord, loadChestContents } from './chest-record.js';
import { locationFreeCopy } from './location-free.js';

export interface ExportDeps {
  orm: MikroORM;
  storage: StorageBackend;
  events: EventBus;
  log: Logger;
}

/** What exportProgress and exportReady subscribers are told (they read the row itself). */
export interface ExportSignal {
  exportId: string;
  status: ExportStatus;
  progress: number;
}

/** A READY archive is kept this long, then the sweep deletes it (exportSweep.ts). */
export const EXPORT_RETENTION_MS = 7 * 86_400_000;

/**
 * The chest.export job: one ZIP written straight into storage as it is made (yazl's output is the
 * body of storage.put; each original is read from storage only when its turn comes, and
 * backpressure holds the reading to the writing), so memory stays flat whatever the chest
 * weighs. Originals first (stored, not deflated: photos and films do not shrink), then
 * chest.json, which records the hash of each file as written, then the story and index.html.
 * put is all or nothing: an attempt that fails leaves no object, and the next attempt writes
 * a new key.
 */
export async function writeExport(deps: ExportDeps, job: JobContext<{ exportId: string }>): Promise<void> {
  const em = deps.orm.em.fork();
  const row = await em.findOne(ChestExport, { id: job.data.exportId }, { populate: ['chest'] });
  if (!row || row.status === ExportStatus.READY || row.status === ExportStatus.FAILED) return;
  const chest = row.chest;
  if (chest.deletedAt) return failExport(deps, row.id, 'The chest was deleted before its archive was written');
  await em.nativeUpdate(ChestExport, { id: row.id }, { status: ExportStatus.RUNNING, progress: 0 });
  signal(deps.events, chest.id, { exportId: row.id, status: ExportStatus.RUNNING, progress: 0 });

  const contents = await loadChestContents(em, chest);
  const total = contents.memories.reduce((n, m) => n + m.size, 0) || 1;
  let done = 0;
  let shown = 0;
  let saved: Promise<void> = Promise.resolve();
  const advance = (bytes: number) => {
    done += bytes;
    const progress = Math.min(95, Math.floor((done / total) * 95));
    // A few dozen updates, not one per chunk.
    if (progress >= shown + 5) {
      shown = progress;
      // One write at a time, in order: subscribers see progress only grow.
      saved = saved.then(() =>
        em.getConnection().execute('update chest_export set progress = ? where id = ? and status = ?', [progress, row.id, ExportStatus.RUNNING]).then(
          () => signal(deps.events, chest.id, { exportId: row.id, status: ExportStatus.RUNNING, progress }),
          (err: unknown) => deps.log.warn({ err, exportId: row.id }, 'export progress not saved'),
        ),
      );
    }
  };

  const zip = new yazl.ZipFile();
  const key = `exports/${chest.id}/${row.id}-${job.attempt}.zip`;
  // yazl does not pass on the errors of the streams it reads: any of them ends the archive, and put stores nothing.
  const output = zip.outputStream as unknown as PassThrough;
  const fail = (err: unknown) => output.destroy(err instanceof Error ? err : new Error(String(err)));
  zip.on('error', fail);
  job.signal.addEventListener('abort', () => fail(new Error('export aborted')), { once: true });
  const stored = deps.storage.put(key, output, { contentType: 'application/zip' });

  const names = new ArchiveNames();
  const files = new Map<string, ArchiveFile>();
  for (const memory of contents.memories) {
    // Without locations the copy (and so its extension) is chosen now; its bytes are read in their turn.
    const copy = row.includeLocation ? null : locationFreeCopy(memory, deps.storage);
    if (!row.includeLocation && !copy) {
      deps.log.warn({ exportId: row.id, assetId: memory.id }, 'memory left out of a location-free export: it has no location-free copy');
      advance(memory.size);
      continue;
    }
    const open = (): Promise<Readable> => (copy ? copy.open() : deps.storage.get(memory.storageKey));
    // Without locations the file name stays out of the entry name too: it often names a street or a person.
    const path = names.memory('memories', memory, copy?.extension ?? extensionOf(memory), row.includeLocation);
    const file: ArchiveFile = { path, size: 0, sha256: '', thumbnail: null };
    files.set(memory.id, file);
    zip.addReadStreamLazy(path, { compress: false, mtime: memory.dateTaken ?? memory.createdAt }, (cb) => {
      open().then(
        (body) => {
          const hash = createHash('sha256');
          const counted = new Transform({
            transform(chunk: Buffer, _enc, next) {
              hash.update(chunk);
              file.size += chunk.length;
              advance(row.includeLocation ? chunk.length : 0);
              next(null, chunk);
            },
            flush(next) {
              file.sha256 = hash.digest('hex');
              if (!row.includeLocation) advance(memory.size);
              next();
            },
          });
          body.on('error', fail);
          cb(null, body.pipe(counted));
        },
        (err: unknown) => {
          fail(err);
        },
      );
    });
    const thumb = largestThumbnail(memory);
    if (thumb) {
      file.thumbnail = names.unique('thumbnails', path.slice('memories/'.length).replace(/\.[^.]+$/, ''), 'webp');
      zip.addReadStreamLazy(file.thumbnail, { compress: false, mtime: memory.createdAt }, (cb) => {
        deps.storage.get(thumb.storageKey).then((s) => cb(null, s.on('error', fail)), fail);
      });
    }
  }

  const exportedAt = new Date();
  // Lazy: by the time yazl asks for it every original before it has been written and hashed.
  const record = () => chestRecord(contents, files, { includeLocation: row.includeLocation, exportedAt });
  let built: ReturnType<typeof record> | null = null;
  const recordOnce = () => (built ??= record());
  zip.addReadStreamLazy('chest.json', { mtime: exportedAt }, (cb) => cb(null, textStream(JSON.stringify(recordOnce(), null, 2))));
  zip.addReadStreamLazy('index.html', { mtime: exportedAt }, (cb) => cb(null, textStream(indexHtml(recordOnce()))));
  if (contents.chest.publishedStory) {
    zip.addReadStreamLazy('story.md', { mtime: exportedAt }, (cb) => {
      const story = storyToTell(recordOnce());
      cb(null, textStream(story ? storyMarkdown(recordOnce(), story) : ''));
    });
    zip.addReadStreamLazy('story.html', { mtime: exportedAt }, (cb) => {
      const story = storyToTell(recordOnce());
      cb(null, textStream(story ? storyPage(recordOnce(), story) : ''));
    });
  }
  zip.end();

  let size: number;
  try {
    ({ size } = await stored);
  } catch (err) {
    if (job.signal.aborted) throw err;
    // Storage down: the queue tries again; anything else (a broken original) is worth retrying too, up to the limit.
    deps.log.error({ err, exportId: row.id }, 'export attempt failed');
    throw err;
  }
  await saved;
  const expiresAt = new Date(Date.now() + EXPORT_RETENTION_MS);
  const changed = await em.nativeUpdate(
    ChestExport,
    { id: row.id, status: ExportStatus.RUNNING },
    { status: ExportStatus.READY, progress: 100, bytes: size, storageKey: key, expiresAt, error: null },
  );
  if (changed === 0) {
    // Finished elsewhere (or the chest went): this attempt's object is nobody's.
    await deps.storage.delete(key);
    return;
  }
  signal(deps.events, chest.id, { exportId: row.id, status: ExportStatus.READY, progress: 100 });
}

/** The chest.export.failed job: the attempts ran out. */
export async function recordExportGaveUp(deps: Pick<ExportDeps, 'orm' | 'events'>, exportId: string): Promise<void> {
  await failExport(deps, exportId, 'The archive could not be written after several attempts; try again later');
}

async function failExport(deps: Pick<ExportDeps, 'orm' | 'events'>, exportId: string, error: string): Promise<void> {
  const em = deps.orm.em.fork();
  const row = await em.findOne(ChestExport, { id: exportId });
  if (!row) return;
  const changed = await em.nativeUpdate(ChestExport, { id: exportId, status: { $in: [ExportStatus.QUEUED, ExportStatus.RUNNING] } }, { status: ExportStatus.FAILED, error });
  if (changed > 0) signal(deps.events, row.chest.id, { exportId, status: ExportStatus.FAILED, progress: row.progress });
}

function signal(bus: EventBus, chestId: string, s: ExportSignal): void {
  bus.publish(topics.exports(chestId), s);
}

function largestThumbnail(memory: Asset) {
  if (memory.fileType !== FileType.IMAGE && memory.fileType !== FileType.VIDEO) return null;
  return [...memory.thumbnails].sort((a, b) => b.width * b.height - a.width * a.height)[0] ?? null;
}

function textStream(text: string): Readable {
  return Readable.from([Buffer.from(text, 'utf8')]);
}
