import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';

/** The storage backends every storage-touching test runs on. */
export const STORAGE_ENVS = ['filesystem', 's3'] as const;
export type StorageName = (typeof STORAGE_ENVS)[number];

export interface StorageEnv {
  /** Environment variables that select this backend in loadConfig. */
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** A folder for the filesystem backend, or a real S3 HTTP server (s3rver) on loopback. */
export async function startStorageEnv(name: StorageName): Promise<StorageEnv> {
  const dir = await mkdtemp(join(tmpdir(), `dmc-${name}-`));
  if (name === 'filesystem') {
    return { env: { DATA_DIR: dir }, stop: () => rm(dir, { recursive: true, force: true }) };
  }
  const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir });
  const { port } = (await server.run()) as { port: number };
  return {
    env: {
      S3_ENDPOINT: `http://127.0.0.1:${port}`,
      S3_ACCESS_KEY: 'S3RVER',
      S3_SECRET_KEY: 'S3RVER',
      S3_BUCKET: 'memory-chest-test',
    },
    async stop() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
