import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { OpenPartsOptions, PartWriter, StagedPart, StorageBackend } from './storage.port.js';

/**
 * How many chunks a part's stream holds ahead of its put (about 1 MiB of socket chunks). A byte
 * stream's default (16 KiB) is a quarter of one socket chunk: the writer waited for 'drain' on
 * almost every chunk. Object mode, so chunks pass as they are instead of being joined (copied).
 */
export const PART_STREAM_CHUNKS = 16;

/** The backend's own writer (openParts) where it has one, else one made of putParts. */
export async function openPartWriter(storage: StorageBackend, staging: string, at: number, opts: OpenPartsOptions): Promise<PartWriter> {
  return storage.openParts ? storage.openParts(staging, at, opts) : new PutPartWriter(storage, staging, at, opts);
}

/**
 * Parts as putParts, one after the other: a part's put starts with its first byte and the next one
 * only once it is stored (a part goes into the run the one before it went into, known only then).
 */
class PutPartWriter implements PartWriter {
  private stream: PassThrough | null = null;
  private done: Promise<StagedPart> | null = null;
  private size = 0;
  /** The last part ended: the next put waits for it. */
  private last: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly opts: OpenPartsOptions;

  constructor(
    private readonly storage: StorageBackend,
    private readonly staging: string,
    private at: number,
    opts: OpenPartsOptions,
  ) {
    this.opts = { ...opts };
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.closed) throw new Error('The part writer is closed');
    if (!this.stream) {
      await this.last;
      const stream = new PassThrough({ objectMode: true, highWaterMark: PART_STREAM_CHUNKS });
      // Its reader reports an error (closed before the part ended) through the put; a put that has
      // not begun reading yet (S3 asks first whether the key exists) must not make it uncaught.
      stream.on('error', () => undefined);
      this.stream = stream;
      this.done = this.storage.putPart(this.staging, this.at, stream, this.opts);
      // A rejected put is awaited in endPart or close; keep it from being reported as unhandled meanwhile.
      this.done.catch(() => undefined);
    }
    this.size += chunk.length;
    // Wait for room, unless the put has given up: then nothing will ever drain the stream.
    if (!this.stream.write(chunk)) await Promise.race([once(this.stream, 'drain'), this.done!]);
  }

  endPart(): Promise<StagedPart> {
    const { stream, done } = this;
    if (!stream || !done) return Promise.reject(new RangeError('A part holds at least one byte'));
    this.stream = null;
    this.done = null;
    this.at += this.size;
    this.size = 0;
    stream.end();
    const stored = done.then((part) => {
      this.opts.run = part.run;
      return part;
    });
    this.last = stored;
    return stored;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.stream) {
      this.stream.destroy(new Error('The part writer was closed before the part ended'));
      this.stream = null;
      await this.done!.catch(() => undefined);
    }
    await this.last.catch(() => undefined);
  }
}
