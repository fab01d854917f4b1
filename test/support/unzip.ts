import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import yauzl from 'yauzl';

/** Unzips every entry of `zipPath` under `dir`, streamed; answers the entry names in archive order. */
export async function unzipTo(zipPath: string, dir: string): Promise<string[]> {
  const zip = await yauzl.openPromise(zipPath, { strictFileNames: true, validateEntrySizes: true });
  const names: string[] = [];
  try {
    for await (const entry of zip.eachEntry()) {
      const out = resolve(join(dir, entry.fileName));
      if (!out.startsWith(resolve(dir) + '/')) throw new Error(`entry outside the folder: ${entry.fileName}`);
      names.push(entry.fileName);
      await mkdir(dirname(out), { recursive: true });
      await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(out));
    }
  } finally {
    zip.close();
  }
  return names;
}
