import { Client } from 'minio';
import { FilesystemStorage } from './filesystem.storage.js';
import { MemoryStorage } from './memory.storage.js';
import { S3Storage } from './s3.storage.js';
import type { StorageBackend } from './storage.port.js';
import { timedTransport } from './timed-transport.js';

export interface FilesystemStorageConfig {
  kind: 'filesystem';
  /** Created if missing. Keep it on one filesystem: puts stage in <root>/.staging and hard-link. */
  root: string;
}

export interface S3StorageConfig {
  kind: 's3';
  endPoint: string;
  port: number;
  useSSL: boolean;
  accessKey: string;
  secretKey: string;
  /** Set it (MinIO: "us-east-1" unless configured): otherwise the client asks the server once. */
  region?: string;
  bucket: string;
  /** Default: path style for MinIO-like endpoints (IPs, hostnames without dots), as the client decides. */
  pathStyle?: boolean;
  /** Bytes per upload part and so the memory per put (5 MiB to 5 GiB; client default 64 MiB). */
  partSize?: number;
  /** Milliseconds a request may go without a byte from the server (timed-transport.ts); default 30 s. */
  timeoutMs?: number;
}

/** Objects in RAM, lost on exit: the fast test tier and throwaway dev runs (STORAGE_DRIVER=memory), never a family's files. */
export interface MemoryStorageConfig {
  kind: 'memory';
}

export type StorageConfig = FilesystemStorageConfig | S3StorageConfig | MemoryStorageConfig;

/** Builds the configured backend and makes sure it can store (root folder, or bucket). */
export async function createStorage(config: StorageConfig): Promise<StorageBackend> {
  switch (config.kind) {
    case 'filesystem':
      return new FilesystemStorage(config.root).init();
    case 'memory':
      return new MemoryStorage();
    case 's3': {
      const client = new Client({
        endPoint: config.endPoint,
        port: config.port,
        useSSL: config.useSSL,
        accessKey: config.accessKey,
        secretKey: config.secretKey,
        ...(config.region !== undefined ? { region: config.region } : {}),
        ...(config.pathStyle !== undefined ? { pathStyle: config.pathStyle } : {}),
        ...(config.partSize !== undefined ? { partSize: config.partSize } : {}),
        transport: timedTransport(config.useSSL, config.timeoutMs ?? 30_000),
      });
      await ensureBucket(client, config.bucket, config.region);
      return new S3Storage(client, config.bucket);
    }
  }
}

async function ensureBucket(client: Client, bucket: string, region: string | undefined): Promise<void> {
  if (await client.bucketExists(bucket)) return;
  try {
    await client.makeBucket(bucket, region ?? 'us-east-1');
  } catch (err) {
    // Another process (API and worker start together) may have created it meanwhile.
    if (await client.bucketExists(bucket).catch(() => false)) return;
    throw err;
  }
}
