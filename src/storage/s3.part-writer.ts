import { type PartWriter, SizeMismatchError, type StagedPart } from './storage.port.js';

export interface S3PartWriterOptions {
  at: number;
  run: string | null;
  maxSize: number;
  /** Stores one whole part after `run`. */
  store(part: { at: number; bytes: Buffer; run: string | null }): Promise<StagedPart>;
}

/**
 * Parts for S3, where every request needs its length: a part's bytes are held until it ends, then
 * go up in one request while the next part's bytes are taken in. So the client keeps sending while
 * a part is uploaded, and an upload holds at most two parts in memory (the one going up, the next).
 */
export class S3PartWriter implements PartWriter {
  private chunks: Buffer[] = [];
  private size = 0;
  private at: number;
  private run: string | null;
  /** The part being stored, if any: the next one goes after it (into its run). */
  private storing: Promise<StagedPart> | null = null;
  private closed = false;
  private failure: unknown = null;

  constructor(private readonly opts: S3PartWriterOptions) {
    this.at = opts.at;
    this.run = opts.run;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.closed) throw new Error('The part writer is closed');
    if (this.failure) throw this.failure;
    this.chunks.push(chunk);
    this.size += chunk.length;
    // The part will be refused at endPart; stop taking bytes for it now.
    if (this.size > this.opts.maxSize) throw new SizeMismatchError(this.opts.maxSize, this.size);
  }

  endPart(): Promise<StagedPart> {
    if (this.closed) return Promise.reject(new Error('The part writer is closed'));
    const { chunks, size, at } = this;
    this.chunks = [];
    this.size = 0;
    if (size === 0) return Promise.reject(new RangeError('A part holds at least one byte'));
    if (size > this.opts.maxSize) return Promise.reject(new SizeMismatchError(this.opts.maxSize, size));
    this.at += size;
    const previous = this.storing;
    // One buffer for the request; the chunks are let go at once.
    const bytes = Buffer.concat(chunks, size);
    const stored = (async () => {
      // The run is known only once the part before is stored.
      if (previous) this.run = (await previous).run;
      const part = await this.opts.store({ at, bytes, run: this.run });
      this.run = part.run;
      return part;
    })();
    stored.catch((err: unknown) => (this.failure ??= err));
    this.storing = stored;
    return stored;
  }

  async close(): Promise<void> {
    this.closed = true;
    // A part not ended is not stored.
    this.chunks = [];
    this.size = 0;
    await this.storing?.catch(() => undefined);
  }
}
