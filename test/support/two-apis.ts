import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from './db.js';
import { type ProductProcess, startApi } from './processes.js';

/** Two API processes on one fresh PostgreSQL database and one data directory, started one after the other. */
export interface TwoApis {
  db: TestDatabase;
  dataDir: string;
  /** The environment both were started with. */
  env: Record<string, string>;
  urls: [string, string];
  procs: ProductProcess[];
  close(): Promise<void>;
}

export async function startTwoApis(extraEnv: Record<string, string> = {}): Promise<TwoApis> {
  const db = await createTestDatabase('postgres');
  const dataDir = await mkdtemp(join(tmpdir(), 'dmc-two-apis-'));
  const env = { DATABASE_URL: db.url, DATA_DIR: dataDir, SECRET_KEY: 'a-shared-secret-of-32-characters-or-more', SWEEP_INTERVAL_MINUTES: '0', ...extraEnv };
  const procs: ProductProcess[] = [];
  const close = async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    // One at a time: the first process migrates.
    const a = await startApi(env);
    procs.push(a.proc);
    const b = await startApi(env);
    procs.push(b.proc);
    return { db, dataDir, env, urls: [a.url, b.url], procs, close };
  } catch (err) {
    await close();
    throw err;
  }
}
