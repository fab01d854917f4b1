import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { apiClient } from './client.js';
import { mediaDir, type MediaDir } from './media-ffmpeg.js';
import { type Config, loadConfig } from '../../src/config.js';
import type { Logger } from '../../src/logger.js';
import type { UploadFaults } from '../../src/domain/upload/upload-faults.js';
import { resolveSecretKey } from '../../src/secret-key.js';
import { type Database, openDatabase } from '../../src/db/database.js';
import { createHttpApp, type HttpApp, listen } from '../../src/server.js';
import { openServices } from '../../src/services.js';
import { startWorker } from '../../src/worker/worker.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from './db.js';

export interface TestServer {
  /** The test's own database (its ORM builds fixtures); the app opens a second pool on it. */
  db: TestDatabase;
  config: Config;
  app: HttpApp;
  database: Database;
  stop(): Promise<void>;
}

/**
 * The served mode on loopback: a fresh Postgres database, the real HTTP app on a free port,
 * files in a temporary folder (never ./data in the working tree). `env` adds or overrides settings;
 * `worker` also runs the processing worker in the same process (as the embedded mode does);
 * `databaseUrl` rewrites the URL the app is given (e.g. through a TCP proxy the test controls).
 */
export async function startTestServer(
  env: Record<string, string> = {},
  {
    worker = false,
    log = pino({ level: 'silent' }),
    databaseUrl = (url: string) => url,
    uploadFaults,
  }: {
    worker?: boolean;
    /** Where the app logs (a test may record its errors); silent by default. */
    log?: Logger;
    databaseUrl?: (url: string) => string;
    /** Faults injected between the upload routes' storage writes and their records (upload-faults.ts). */
    uploadFaults?: UploadFaults;
  } = {},
): Promise<TestServer> {
  const db = await createTestDatabase('postgres');
  const dataDir = await mkdtemp(join(tmpdir(), 'dmc-server-'));
  const loaded = await resolveSecretKey(loadConfig({ DATABASE_URL: databaseUrl(db.url), DATA_DIR: dataDir, SECRET_KEY: TEST_SECRET_KEY, PORT: '0', LOG_LEVEL: 'silent', ...env }));
  // The upload routes read `faults` beside the policy (a test seam; loadConfig never sets it).
  const config: Config = uploadFaults ? { ...loaded, uploads: Object.assign({ ...loaded.uploads }, { faults: uploadFaults }) } : loaded;
  const database = await openDatabase(config, log);
  const services = await openServices(config, database, log, { supervise: worker });
  const app = await createHttpApp(config, database, log, services);
  await listen(app, '127.0.0.1', 0);
  const running = worker ? await startWorker({ orm: database.orm, storage: services.storage, events: services.events, log }, services.queue, config) : null;
  return {
    db,
    config,
    app,
    database,
    async stop() {
      await app.close();
      await services.close();
      await running?.close();
      await database.close();
      await db.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface EmbeddedTestServer {
  app: HttpApp;
  database: Database;
  config: Config;
  stop(): Promise<void>;
}

/**
 * The embedded default exactly as `npm start` runs it without DATABASE_URL: PGlite under a
 * temporary DATA_DIR, files beside it, its own DATA_DIR/secret.key, and the worker in the same process.
 */
export async function startEmbeddedServer(env: Record<string, string> = {}): Promise<EmbeddedTestServer> {
  const dataDir = await mkdtemp(join(tmpdir(), 'dmc-embedded-'));
  const config = await resolveSecretKey(loadConfig({ DATA_DIR: dataDir, PORT: '0', LOG_LEVEL: 'silent', ...env }));
  const log = pino({ level: 'silent' });
  const database = await openDatabase(config, log);
  const services = await openServices(config, database, log, { supervise: true });
  const app = await createHttpApp(config, database, log, services);
  await listen(app, '127.0.0.1', 0);
  const running = await startWorker({ orm: database.orm, storage: services.storage, events: services.events, log }, services.queue, config);
  return {
    app,
    database,
    config,
    async stop() {
      await app.close();
      await services.close();
      await running.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * For a describe block: the embedded server, an API client and a media folder, made before its
 * tests and removed after. Read the fields inside tests (they are set by beforeAll).
 */
export function useEmbeddedServer(env: Record<string, string> = {}) {
  const fixture = {} as { server: EmbeddedTestServer; api: ReturnType<typeof apiClient>; media: MediaDir };
  beforeAll(async () => {
    fixture.server = await startEmbeddedServer(env);
    fixture.media = await mediaDir();
    fixture.api = apiClient(fixture.server.app.url());
  }, 120_000);
  afterAll(async () => {
    await fixture.server?.stop();
    await fixture.media?.remove();
  });
  return fixture;
}
