import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from 'minio';
import { StorageUnavailableError } from '../../src/storage/storage.port.js';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createStorage } from '../../src/storage/storage.registry.js';
import { S3Storage } from '../../src/storage/s3.storage.js';
import { openPartWriter } from '../../src/storage/part-writer.js';
import { failAfter, generateBytes, storageContract } from './storage.contract.js';

const MiB = 1024 * 1024;

/**
 * A real S3 HTTP server (s3rver) on loopback, a fresh directory each time.
 * s3rver implements no ListMultipartUploads and no AbortMultipartUpload: S3Storage needs neither
 * (it drives multipart uploads itself and treats abort as best effort).
 * A 5 MiB part size (the S3 minimum) sends the 20 MiB contract object as a 4-part multipart upload,
 * so both the single-PUT and the multipart paths run here.
 */
async function startS3(bucket: string) {
  const directory = await mkdtemp(join(tmpdir(), 'dmc-s3rver-'));
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
  const { port } = await server.run();
  const storage = await createStorage({
    kind: 's3',
    endPoint: '127.0.0.1',
    port,
    useSSL: false,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    region: 'us-east-1',
    bucket,
    partSize: 5 * MiB,
  });
  return {
    storage,
    port,
    cleanup: async () => {
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

storageContract('s3 (s3rver)', () => startS3('memory-chest'));

describe('s3 storage specifics', () => {
  it('creates the bucket when missing and accepts an existing one', async () => {
    const { storage, port, cleanup } = await startS3('fresh-bucket');
    try {
      expect(storage).toBeInstanceOf(S3Storage);
      const s3 = storage as S3Storage;
      expect(await s3.client.bucketExists('fresh-bucket')).toBe(true);
      // A second backend on the same bucket (API and worker) starts fine.
      const again = await createStorage({
        kind: 's3',
        endPoint: '127.0.0.1',
        port,
        useSSL: false,
        accessKey: 'S3RVER',
        secretKey: 'S3RVER',
        region: 'us-east-1',
        bucket: 'fresh-bucket',
      });
      expect(again.kind).toBe('s3');
    } finally {
      await cleanup();
    }
  });

  it('uploads a long body in parts of at most partSize, without ListMultipartUploads, and aborts on failure', async () => {
    const { storage, cleanup } = await startS3('parts');
    try {
      const { client } = storage as S3Storage;
      const partSizes: number[] = [];
      const uploadPart = client.uploadPart.bind(client);
      vi.spyOn(client, 'uploadPart').mockImplementation(async (config, payload) => {
        partSizes.push(payload?.length ?? 0);
        return uploadPart(config, payload);
      });
      const findUploadId = vi.spyOn(client, 'findUploadId');
      const abort = vi.spyOn(client, 'abortMultipartUpload');

      const size = 12 * MiB + 5;
      const sent = createHash('sha256');
      await storage.put('chests/c/originals/parts', Readable.from(generateBytes(size, 100_000, sent)));
      expect(partSizes).toEqual([5 * MiB, 5 * MiB, 2 * MiB + 5]);
      const received = createHash('sha256');
      for await (const chunk of await storage.get('chests/c/originals/parts')) received.update(chunk as Buffer);
      expect(received.digest('hex')).toBe(sent.digest('hex'));

      await expect(storage.put('chests/c/originals/broken', Readable.from(failAfter(11 * MiB, new Error('gone'))))).rejects.toThrow('gone');
      expect(abort).toHaveBeenCalledTimes(1);
      expect(await storage.stat('chests/c/originals/broken')).toBeNull();
      expect(findUploadId).not.toHaveBeenCalled();
    } finally {
      vi.restoreAllMocks();
      await cleanup();
    }
  });

  it('stages an upload once: parts go up as multipart parts, the server composes, and deleting the staging aborts the upload', async () => {
    const { storage, cleanup } = await startS3('staged-once');
    try {
      const { client } = storage as S3Storage;
      const sent: { call: string; key: string; bytes: number }[] = [];
      const read: string[] = [];
      const uploadPart = client.uploadPart.bind(client);
      vi.spyOn(client, 'uploadPart').mockImplementation(async (config, payload) => {
        sent.push({ call: 'uploadPart', key: config.objectName, bytes: payload?.length ?? 0 });
        return uploadPart(config, payload);
      });
      const putObject = client.putObject.bind(client) as (...args: unknown[]) => Promise<unknown>;
      vi.spyOn(client, 'putObject').mockImplementation((async (bucket: string, key: string, body: Buffer, ...rest: unknown[]) => {
        sent.push({ call: 'putObject', key, bytes: body.length });
        return putObject(bucket, key, body, ...rest);
      }) as never);
      // getObject reads through getPartialObject.
      const getPartialObject = client.getPartialObject.bind(client) as (...args: unknown[]) => Promise<Readable>;
      vi.spyOn(client, 'getPartialObject').mockImplementation((async (bucket: string, key: string, ...rest: unknown[]) => {
        read.push(key);
        return getPartialObject(bucket, key, ...rest);
      }) as never);
      const copy = vi.spyOn(client, 'copyObject');
      const abort = vi.spyOn(client, 'abortMultipartUpload');

      const staging = 'staging/uploads/once/';
      const bytes = [randomBytes(8 * MiB), randomBytes(8 * MiB), randomBytes(MiB + 3)];
      const writer = await openPartWriter(storage, staging, 0, { run: null, maxSize: 8 * MiB });
      const parts = [];
      for (const part of bytes) {
        for (let i = 0; i < part.length; i += 64 * 1024) await writer.write(part.subarray(i, i + 64 * 1024));
        parts.push(await writer.endPart());
      }
      await writer.close();
      // Before composition only a part's first 64 KiB can be read (S3 cannot read an unfinished upload).
      await expect(storage.getPart(staging, parts[0]!, { start: 0, end: 64 * 1024 })).rejects.toThrow(/before it is composed/);
      const size = 17 * MiB + 3;
      await expect(storage.composeParts(staging, parts, 'chests/c/originals/once', { size, contentType: 'video/mp4' })).resolves.toEqual({ size, copied: MiB + 3 });

      const total = (call: string, test: (key: string) => boolean = () => true) => sent.filter((s) => s.call === call && test(s.key)).reduce((n, s) => n + s.bytes, 0);
      // Each 8 MiB part crossed once; the small last part twice (as an object, then as the upload's last part).
      expect(sent.filter((s) => s.call === 'uploadPart').map((s) => s.bytes)).toEqual([8 * MiB, 8 * MiB, MiB + 3]);
      expect(total('putObject', (key) => /\/mp-\d{15}$/.test(key))).toBe(2 * 64 * 1024);
      expect(total('putObject', (key) => /\/at-\d{15}$/.test(key))).toBe(MiB + 3);
      expect(total('putObject', (key) => !/\/(mp|at)-\d{15}$/.test(key))).toBeLessThan(1024);
      expect(copy).toHaveBeenCalledTimes(1);
      // Read back by the client: the small last part and the run's small JSON objects, nothing else.
      expect(read.filter((key) => !/\/run-[0-9a-f]{32}(-parts)?$/.test(key))).toEqual([`${staging}at-${String(16 * MiB).padStart(15, '0')}`]);

      const received = createHash('sha256');
      for await (const chunk of await storage.get('chests/c/originals/once')) received.update(chunk as Buffer);
      expect(received.digest('hex')).toBe(createHash('sha256').update(Buffer.concat(bytes)).digest('hex'));
      expect((await storage.stat('chests/c/originals/once'))?.contentType).toBe('video/mp4');

      for await (const obj of storage.list(staging)) await storage.delete(obj.key);
      expect(abort).toHaveBeenCalledTimes(1);
      expect(abort.mock.calls[0]![1]).toMatch(/^staging\/uploads\/once\/run-[0-9a-f]{32}-whole$/);
    } finally {
      vi.restoreAllMocks();
      await cleanup();
    }
  });

  it('a server that answers 503 to everything is unavailable (after minio retried once), not an internal error', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(503).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const client = new Client({ endPoint: '127.0.0.1', port, useSSL: false, accessKey: 'k', secretKey: 's', region: 'us-east-1' });
      const storage = new S3Storage(client, 'busy');
      await expect(storage.stat('chests/c/originals/a')).rejects.toBeInstanceOf(StorageUnavailableError);
      await expect(storage.putPart('staging/uploads/u/', 0, Readable.from([randomBytes(6 * MiB)]), { run: null, maxSize: 8 * MiB })).rejects.toBeInstanceOf(StorageUnavailableError);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('a composition cut before the upload completed composes again; small parts before a run are copied in order', async () => {
    const { storage, cleanup } = await startS3('compose-again');
    try {
      const { client } = storage as S3Storage;
      const put = (staging: string, at: number, bytes: Buffer, run: string | null) => storage.putPart(staging, at, Readable.from([bytes]), { run, maxSize: 8 * MiB });
      const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      const read = async (key: string) => {
        const chunks: Buffer[] = [];
        for await (const c of await storage.get(key)) chunks.push(c as Buffer);
        return Buffer.concat(chunks);
      };

      const staging = 'staging/uploads/cut/';
      const [a, b, c] = [randomBytes(6 * MiB), randomBytes(6 * MiB), randomBytes(1000)];
      const first = await put(staging, 0, a, null);
      const second = await put(staging, a.length, b, first.run);
      const third = await put(staging, a.length + b.length, c, second.run);
      const size = a.length + b.length + c.length;
      const complete = client.completeMultipartUpload.bind(client);
      const cut = vi.spyOn(client, 'completeMultipartUpload').mockRejectedValueOnce(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      await expect(storage.composeParts(staging, [first, second, third], 'chests/c/originals/cut', { size })).rejects.toBeInstanceOf(StorageUnavailableError);
      cut.mockImplementation(complete);
      // The manifest was written before the cut: the last part is not sent again.
      expect(await storage.composeParts(staging, [first, second, third], 'chests/c/originals/cut', { size })).toEqual({ size, copied: 0 });
      expect(digest(await read('chests/c/originals/cut'))).toBe(digest(Buffer.concat([a, b, c])));

      // Parts stored before this release (objects of their own), then a run: copied, in order.
      const mixed = 'staging/uploads/mixed/';
      const [d, e, f] = [randomBytes(3 * MiB), randomBytes(7 * MiB), randomBytes(5 * MiB + 1)];
      const p1 = await put(mixed, 0, d, null);
      const p2 = await put(mixed, d.length, e, p1.run);
      const p3 = await put(mixed, d.length + e.length, f, p2.run);
      expect([p1.run === 'objects', p2.run.startsWith('mp-'), p3.run === p2.run]).toEqual([true, true, true]);
      const all = d.length + e.length + f.length;
      expect(await storage.composeParts(mixed, [p3, p1, p2], 'chests/c/originals/mixed', { size: all })).toEqual({ size: all, copied: all });
      expect(digest(await read('chests/c/originals/mixed'))).toBe(digest(Buffer.concat([d, e, f])));
    } finally {
      vi.restoreAllMocks();
      await cleanup();
    }
  });
});
