import { PassThrough, Readable } from 'node:stream';
import yauzl from 'yauzl';
import type { StorageBackend } from '../../storage/storage.port.js';

/**
 * yauzl reads the central directory and each entry by byte range: here straight from storage
 * (a ranged GET on S3, a positioned read on the filesystem), so an archive of any size is read
 * without being copied or held in memory.
 */
class StorageReader extends yauzl.RandomAccessReader {
  constructor(
    private readonly storage: StorageBackend,
    private readonly key: string,
  ) {
    super();
  }

  override _readStreamForRange(start: number, end: number): Readable {
    if (end <= start) return Readable.from([]);
    const out = new PassThrough();
    this.storage.get(this.key, { start, end: end - 1 }).then(
      (s) => {
        s.on('error', (err) => out.destroy(err));
        s.pipe(out);
      },
      (err: unknown) => out.destroy(err as Error),
    );
    return out;
  }
}

export async function openArchive(storage: StorageBackend, key: string): Promise<yauzl.ZipFile> {
  const info = await storage.stat(key);
  if (!info) throw new Error(`archive ${key} is missing`);
  return yauzl.fromRandomAccessReaderPromise(new StorageReader(storage, key), info.size, { lazyEntries: true, strictFileNames: true, validateEntrySizes: true, autoClose: false });
}
