import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { createStorage } from '../../src/storage/storage.registry.js';
import { S3Storage } from '../../src/storage/s3.storage.js';
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
});
