import { Readable } from 'node:stream';

/** Accepts both stream flavours of the port: a modern Readable as is, an old-style stream wrapped. */
export function asReadable(body: NodeJS.ReadableStream | Readable): Readable {
  return body instanceof Readable ? body : new Readable().wrap(body);
}

/** Stream chunks are Buffers unless someone set an encoding; count and write bytes either way. */
export function chunkToBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError('put body must be a byte stream (object-mode chunks are not bytes)');
}
