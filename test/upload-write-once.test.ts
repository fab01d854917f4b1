import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Asset, Upload } from '../src/db/entities/index.js';
import { createActor } from '../src/domain/actor.js';
import { forgetHash } from '../src/domain/upload/upload-hash.js';
import { type AssetIntake, createUpload, PART_SIZE, receiveBytes } from '../src/domain/upload/upload.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import type { FilesystemStorage } from '../src/storage/filesystem.storage.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeChest } from './support/factories.js';
import { testGuard } from './support/graphql.js';
import { wav } from './support/media.js';
import { startStorageEnv, type StorageEnv } from './support/storage.js';

const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Counts what crosses the storage port during an upload: bytes written (puts, parts, and what
 * composing the original copied) and bytes read back (gets of objects and of parts), and the
 * largest chunk any write was handed.
 */
function counting(storage: StorageBackend) {
  const counts = { written: 0, copied: 0, read: 0, largestChunk: 0, composes: 0 };
  const countBody = (body: NodeJS.ReadableStream | Readable) =>
    Readable.from(
      (async function* () {
        for await (const chunk of body as AsyncIterable<Buffer>) {
          counts.written += chunk.length;
          counts.largestChunk = Math.max(counts.largestChunk, chunk.length);
          yield chunk;
        }
      })(),
    );
  const countRead = (stream: Readable) =>
    Readable.from(
      (async function* () {
        for await (const chunk of stream as AsyncIterable<Buffer>) {
          counts.read += chunk.length;
          yield chunk;
        }
      })(),
    );
  const wrapped: StorageBackend = {
    kind: storage.kind,
    put: (key, body, opts) => storage.put(key, countBody(body), opts),
    get: async (key, range) => countRead(await storage.get(key, range)),
    stat: (key) => storage.stat(key),
    delete: (key) => storage.delete(key),
    list: (prefix) => storage.list(prefix),
    presignedGetUrl: (...args) => storage.presignedGetUrl(...args),
    putPart: (staging, at, body, opts) => storage.putPart(staging, at, countBody(body), opts),
    ...(storage.openParts && {
      async openParts(staging, at, opts) {
        const writer = await storage.openParts!(staging, at, opts);
        return {
          write(chunk) {
            counts.written += chunk.length;
            counts.largestChunk = Math.max(counts.largestChunk, chunk.length);
            return writer.write(chunk);
          },
          endPart: () => writer.endPart(),
          close: () => writer.close(),
        };
      },
    }),
    statPart: (...args) => storage.statPart(...args),
    listParts: (...args) => storage.listParts(...args),
    getPart: async (...args) => countRead(await storage.getPart(...args)),
    deletePart: (...args) => storage.deletePart(...args),
    async composeParts(...args) {
      const result = await storage.composeParts(...args);
      counts.composes += 1;
      counts.copied += result.copied;
      return result;
    },
  };
  return { storage: wrapped, counts };
}

/** The file as a client sends it, in 64 KiB chunks; counts how far ahead of storage it got. */
function sender(bytes: Buffer, counts: { written: number; copied: number }, track: { ahead: number }) {
  return Readable.from(
    (function* () {
      for (let i = 0; i < bytes.length; i += CHUNK) {
        // Bytes sent but not yet handed to storage: what the server holds in memory for this upload.
        track.ahead = Math.max(track.ahead, i - counts.written);
        yield bytes.subarray(i, i + CHUNK);
      }
    })(),
  );
}

describe.each(['filesystem', 's3', 'memory'] as const)('every byte of an upload is written once and hashed as it arrives, on %s', (name) => {
  let db: TestDatabase;
  let env: StorageEnv | null = null;
  let dir: string;
  let raw: StorageBackend;
  let intake: AssetIntake;
  const policy = loadConfig({}).uploads;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dir = await mkdtemp(join(tmpdir(), 'dmc-write-once-'));
    if (name === 's3') {
      env = await startStorageEnv('s3');
      raw = await createStorage(loadConfig(env.env).storage);
    } else raw = await createStorage(name === 'filesystem' ? { kind: 'filesystem', root: dir } : { kind: 'memory' });
    intake = { queue: await createPgBossQueue({ orm: db.orm, supervise: false, log: pino({ level: 'silent' }) }), events: new InProcessEventBus() };
  });
  afterAll(async () => {
    await intake?.queue.stop();
    await env?.stop();
    await db?.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function ticket(bytes: Buffer) {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const { upload } = await createUpload(em, createActor(em, account.id), { chestId: chest.id, filename: 'a.wav', size: bytes.length, mimeType: 'audio/wav' }, policy, testGuard());
    return upload.id;
  }

  async function send(storage: StorageBackend, uploadId: string, offset: number, body: Readable) {
    const em = db.orm.em.fork();
    const upload = await em.findOneOrFail(Upload, uploadId);
    return receiveBytes({ em, storage, policy, intake }, { upload, offset, body });
  }

  async function stored(assetId: string) {
    const asset = await db.orm.em.fork().findOneOrFail(Asset, assetId);
    const hash = createHash('sha256');
    for await (const c of await raw.get(asset.storageKey)) hash.update(c as Buffer);
    return { row: asset.sha256, object: hash.digest('hex') };
  }

  /** 20 MiB and a bit: three parts, the last a short one. */
  const file = () => Buffer.concat([wav(4096), randomBytes(2 * PART_SIZE + 3 * MiB)]);

  it('one PATCH: each byte handed to storage once, nothing read back, no chunk larger than the client sent', async () => {
    const bytes = file();
    const { storage, counts } = counting(raw);
    const track = { ahead: 0 };
    const id = await ticket(bytes);
    const { upload } = await send(storage, id, 0, sender(bytes, counts, track));
    expect(upload.status).toBe('COMPLETE');
    // Written once: the parts hold every byte and (where the backend can) become the original.
    expect(counts.written).toBe(bytes.length);
    expect(counts.composes).toBe(1);
    // Filesystem: the run becomes the original. S3: the server composes the multipart parts, the
    // short last part (an object of its own) is sent once more. Memory: every part is copied.
    expect(counts.copied).toBe({ filesystem: 0, s3: bytes.length - 2 * PART_SIZE, memory: bytes.length }[name]);
    // Hashed and sniffed as the bytes arrived: nothing is read back.
    expect(counts.read).toBe(0);
    // Memory stays flat: no buffer bigger than a client chunk is made, and the server is never
    // more than a little ahead of storage (far less than a part).
    expect(counts.largestChunk).toBeLessThanOrEqual(CHUNK);
    expect(track.ahead).toBeLessThan(PART_SIZE / 4);
    expect(await stored(upload.asset!.id)).toEqual({ row: sha(bytes), object: sha(bytes) });
  });

  // Registered on the filesystem only (the other backends have no run file): not a skipped test elsewhere.
  if (name === 'filesystem') it('one PATCH on the filesystem: one run kept open, few write calls, the same fsyncs per part as before', async () => {
    const bytes = file();
    const fs = raw as FilesystemStorage;
    const before = { ...fs.io };
    const id = await ticket(bytes);
    const { upload } = await send(raw, id, 0, sender(bytes, { written: 0, copied: 0 }, { ahead: 0 }));
    expect(upload.status).toBe('COMPLETE');
    const parts = Math.ceil(bytes.length / PART_SIZE);
    const chunks = Math.ceil(bytes.length / CHUNK);
    // Durability unchanged: per part the run's fsync, the marker's and its folder's; then the
    // original (the run, truncated and fsynced, linked, and its folder fsynced).
    expect(fs.io.fsyncs - before.fsyncs).toBe(3 * parts + 2);
    // Bytes once: the file, and a marker of under 100 bytes per part.
    expect(fs.io.bytes - before.bytes - bytes.length).toBeGreaterThan(0);
    expect(fs.io.bytes - before.bytes - bytes.length).toBeLessThan(100 * parts);
    // Chunks that arrive while a write is on its way go down together: one write call per chunk before.
    expect(fs.io.writes - before.writes).toBeLessThan(chunks / 8);
  });

  it('resumed in several PATCHes on this process: still written once and never read', async () => {
    const bytes = file();
    const { storage, counts } = counting(raw);
    const id = await ticket(bytes);
    const cuts = [0, 5 * MiB, 5 * MiB + 1, PART_SIZE + 123, bytes.length];
    let result;
    for (let i = 0; i + 1 < cuts.length; i++) result = await send(storage, id, cuts[i]!, Readable.from([bytes.subarray(cuts[i], cuts[i + 1])]));
    expect(result!.upload.status).toBe('COMPLETE');
    expect(counts).toMatchObject({ written: bytes.length, read: 0, copied: name === 'filesystem' ? 0 : bytes.length });
    expect(await stored(result!.upload.asset!.id)).toEqual({ row: sha(bytes), object: sha(bytes) });
  });

  it('resumed on a process that did not see the first bytes: written once, hashed once from the original', async () => {
    const bytes = file();
    const { storage, counts } = counting(raw);
    const id = await ticket(bytes);
    await send(storage, id, 0, Readable.from([bytes.subarray(0, PART_SIZE + 5)]));
    // What another API process knows of this upload's hash: nothing.
    forgetHash(id);
    const { upload } = await send(storage, id, PART_SIZE + 5, Readable.from([bytes.subarray(PART_SIZE + 5)]));
    expect(upload.status).toBe('COMPLETE');
    expect(counts).toMatchObject({ written: bytes.length, read: bytes.length, copied: name === 'filesystem' ? 0 : bytes.length });
    expect(await stored(upload.asset!.id)).toEqual({ row: sha(bytes), object: sha(bytes) });
  });
});
