import { Readable } from 'node:stream';
import { asReadable, chunkToBuffer } from './body.js';
import {
  assertContiguousParts,
  assertValidStaging,
  type ByteRange,
  cappedPart,
  PART_NAME,
  partName,
  type PutPartOptions,
  type StagedPart,
  type StorageBackend,
} from './storage.port.js';

/** Every part is its own object: there are no runs to append to. */
const OBJECTS_RUN = 'objects';

type Objects = Pick<StorageBackend, 'put' | 'get' | 'stat' | 'delete' | 'list'>;

/**
 * Staged parts as one object each (`<staging>at-<offset>`), composed by copying: what a backend
 * without a cheaper way does (memory, where every byte is in RAM anyway; S3 until multipart
 * uploads carry the parts). Create-only and all-or-nothing come from the backend's own put.
 */
export class PartObjects {
  constructor(private readonly objects: Objects) {}

  async putPart(staging: string, at: number, body: NodeJS.ReadableStream | Readable, opts: PutPartOptions): Promise<StagedPart> {
    assertValidStaging(staging);
    const { size } = await this.objects.put(`${staging}${partName(at)}`, Readable.from(cappedPart(asReadable(body), opts.maxSize, chunkToBuffer)));
    return { at, size, run: OBJECTS_RUN };
  }

  async statPart(staging: string, at: number): Promise<StagedPart | null> {
    assertValidStaging(staging);
    const info = await this.objects.stat(`${staging}${partName(at)}`);
    return info && info.size > 0 ? { at, size: info.size, run: OBJECTS_RUN } : null;
  }

  async listParts(staging: string): Promise<StagedPart[]> {
    assertValidStaging(staging);
    const parts: StagedPart[] = [];
    for await (const obj of this.objects.list(staging)) {
      const m = PART_NAME.exec(obj.key.slice(staging.length));
      if (m && obj.size > 0) parts.push({ at: Number(m[1]), size: obj.size, run: OBJECTS_RUN });
    }
    return parts;
  }

  async getPart(staging: string, part: StagedPart, range?: ByteRange): Promise<Readable> {
    assertValidStaging(staging);
    return this.objects.get(`${staging}${partName(part.at)}`, range);
  }

  async deletePart(staging: string, at: number): Promise<void> {
    assertValidStaging(staging);
    await this.objects.delete(`${staging}${partName(at)}`);
  }

  async composeParts(staging: string, parts: StagedPart[], key: string, opts: { size: number; contentType?: string }): Promise<{ size: number; copied: number }> {
    assertValidStaging(staging);
    const sorted = assertContiguousParts(parts, opts.size);
    const { size } = await this.objects.put(key, concatParts(sorted, (p) => this.getPart(staging, p)), opts);
    return { size, copied: size };
  }
}

/** The parts' bytes one after the other, one part open at a time. */
export function concatParts(parts: StagedPart[], open: (part: StagedPart) => Promise<Readable>): Readable {
  return Readable.from(
    (async function* () {
      for (const part of parts) yield* (await open(part)) as AsyncIterable<Buffer>;
    })(),
  );
}
