import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Asset } from '../../db/entities/index.js';
import { ObjectExistsError, type StorageBackend } from '../../storage/storage.port.js';
import type { DerivativeSink } from '../../media/pipeline.types.js';

/** Every derivative of an asset lives under one prefix: easy to replace, list and remove. */
export const derivativePrefix = (asset: Pick<Asset, 'id'> & { chest: { id: string } }) => `chests/${asset.chest.id}/derivatives/${asset.id}/`;

const NAME = /^[a-z0-9-]{1,40}$/;

/**
 * Writes derivatives at keys fixed by the asset and the derivative's name, replacing what a
 * previous attempt left: re-running a job never adds a second thumbnail. Records what it wrote.
 */
export function derivativeSink(storage: StorageBackend, asset: Pick<Asset, 'id'> & { chest: { id: string } }, written: Set<string>): DerivativeSink {
  return async (name, body, mimeType) => {
    if (!NAME.test(name)) throw new Error(`derivative name ${JSON.stringify(name)} is not allowed`);
    const key = `${derivativePrefix(asset)}${name}`;
    await storage.delete(key);
    try {
      // A preview file streams from disk: a long recording's copy is never held in memory.
      const stream = Buffer.isBuffer(body) ? Readable.from([body]) : createReadStream(body.path);
      await storage.put(key, stream, { contentType: mimeType, size: Buffer.isBuffer(body) ? body.length : body.size });
    } catch (err) {
      // Another attempt of the same job wrote the same derivative in between: same bytes, same key.
      if (!(err instanceof ObjectExistsError)) throw err;
    }
    written.add(key);
    return key;
  };
}

/** Removes derivatives an earlier run made that this run did not (e.g. a name that no longer exists). */
export async function removeStaleDerivatives(storage: StorageBackend, asset: Pick<Asset, 'id'> & { chest: { id: string } }, keep: Set<string>): Promise<number> {
  let removed = 0;
  for await (const obj of storage.list(derivativePrefix(asset))) {
    if (keep.has(obj.key)) continue;
    await storage.delete(obj.key);
    removed++;
  }
  return removed;
}
