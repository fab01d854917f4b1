import type { FileHandle } from 'node:fs/promises';
import { type PartWriter, SizeMismatchError, type StagedPart } from './storage.port.js';

/** What the filesystem backend asked of the disk: write calls, bytes written, fsyncs (a seam for tests). */
export interface IoCounts {
  writes: number;
  bytes: number;
  fsyncs: number;
}

/**
 * Bytes a run writer takes ahead of the disk before write() waits. While one write is on its way,
 * the next chunks gather, and then go down together in one writev: the request keeps being read
 * while the disk works, and memory stays bounded by this, whatever the file's size.
 */
export const RUN_QUEUE_BYTES = 2 * 1024 * 1024;
/** Buffers per writev (IOV_MAX is 1024 on Linux). */
const MAX_IOV = 1024;

export interface RunWriterInit {
  /** The run file, open for writing, holding exactly the bytes before `at`. */
  handle: FileHandle;
  run: string;
  /** The upload offset of the run's first byte. */
  runStart: number;
  /** Where the first part starts. */
  at: number;
  maxSize: number;
  io: IoCounts;
  /**
   * Writes a part's marker where nothing reads it yet; place() makes it known (a part counts as
   * stored once that resolves), discard() throws it away.
   */
  stageMark(part: StagedPart): Promise<{ place(): Promise<void>; discard(): Promise<void> }>;
}

/**
 * Parts appended to one run file that stays open between them. Chunks are queued and written in
 * order, as many at a time as gathered (one writev); a part ends with a fsync of the run beside
 * the writing of its marker, then the marker is put in place, while the bytes of the next part
 * keep being written after it.
 */
export class RunWriter implements PartWriter {
  private readonly init: RunWriterInit;
  private queue: Buffer[] = [];
  /** Bytes given to write() and not yet on disk (including the writev on its way). */
  private queued = 0;
  /** The upload offset up to which bytes are written to the file. */
  private disk: number;
  private partStart: number;
  private partSize = 0;
  private flushing: Promise<void> | null = null;
  private ending: Promise<unknown> = Promise.resolve();
  private failed: Error | null = null;
  private closing: Promise<void> | null = null;
  private tick = newTick();

  constructor(init: RunWriterInit) {
    this.init = init;
    this.disk = init.at;
    this.partStart = init.at;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.failed) throw this.failed;
    if (chunk.length === 0) return;
    if (this.partSize + chunk.length > this.init.maxSize) throw new SizeMismatchError(this.init.maxSize, this.partSize + chunk.length);
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.partSize += chunk.length;
    this.flush();
    while (this.queued >= RUN_QUEUE_BYTES && !this.failed) await this.tick.promise;
    if (this.failed) throw this.failed;
  }

  endPart(): Promise<StagedPart> {
    if (this.failed) return Promise.reject(this.failed);
    if (this.partSize === 0) return Promise.reject(new SizeMismatchError(this.init.maxSize, 0));
    const part: StagedPart = { at: this.partStart, size: this.partSize, run: this.init.run };
    const end = part.at + part.size;
    this.partStart = end;
    this.partSize = 0;
    const ending = (async () => {
      while (this.disk < end && !this.failed) await this.tick.promise;
      if (this.failed) throw this.failed;
      // Every byte of the part is in the file: a fsync now covers them (and maybe some of the next
      // part's). The marker is written and fsynced meanwhile, but put in place only after it.
      const [synced, marker] = await Promise.allSettled([this.init.handle.sync(), this.init.stageMark(part)]);
      if (synced.status === 'rejected' || marker.status === 'rejected') {
        if (marker.status === 'fulfilled') await marker.value.discard();
        throw synced.status === 'rejected' ? synced.reason : (marker as PromiseRejectedResult).reason;
      }
      this.init.io.fsyncs += 1;
      await marker.value.place();
      return part;
    })();
    this.ending = ending.catch((err: unknown) => this.fail(err));
    return ending;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      // What is still queued belongs to no ended part: a tail, never written.
      this.queue = [];
      this.fail(new Error('The part writer is closed'));
      while (this.flushing) await this.flushing;
      await this.ending;
      await this.init.handle.close().catch(() => undefined);
    })();
    return this.closing;
  }

  /** Starts writing what is queued, unless a write is on its way (it takes the rest when done). */
  private flush(): void {
    if (this.flushing || this.failed || this.queue.length === 0) return;
    this.flushing = (async () => {
      try {
        while (this.queue.length > 0 && !this.failed) {
          const batch = this.queue.splice(0, MAX_IOV);
          const bytes = batch.reduce((n, b) => n + b.length, 0);
          for (let done = 0; done < bytes; ) {
            const { bytesWritten } = await this.init.handle.writev(done === 0 ? batch : after(batch, done), this.disk + done - this.init.runStart);
            this.init.io.writes += 1;
            done += bytesWritten;
          }
          this.init.io.bytes += bytes;
          this.disk += bytes;
          this.queued -= bytes;
          this.wake();
        }
      } catch (err) {
        this.fail(err);
      } finally {
        this.flushing = null;
      }
    })();
  }

  private fail(err: unknown): void {
    this.failed ??= err instanceof Error ? err : new Error(String(err));
    this.wake();
  }

  private wake(): void {
    const { resolve } = this.tick;
    this.tick = newTick();
    resolve();
  }
}

function newTick(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** The buffers from byte `skip` on (after a short writev). */
function after(batch: Buffer[], skip: number): Buffer[] {
  const rest: Buffer[] = [];
  for (const b of batch) {
    if (skip >= b.length) skip -= b.length;
    else {
      rest.push(skip ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return rest;
}
