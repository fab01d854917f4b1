import { afterAll } from 'vitest';
import { createMemoryQueue } from '../../src/jobs/memory.queue.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { CONTRACT_RETRY, jobQueueContract } from './jobs.contract.js';

// An in-memory PGlite gives the transactions jobs join; the jobs themselves live in the queue, so
// no table is needed and the schema is not migrated (that took about a third of this file's time).
let db: Promise<TestDatabase> | undefined;
afterAll(async () => {
  await (await db)?.close();
});

jobQueueContract('memory (jobs held with their transaction)', async () => {
  const { orm } = await (db ??= createTestDatabase('pglite', { migrated: false }));
  const queue = createMemoryQueue({ orm, retry: CONTRACT_RETRY });
  return {
    queue,
    orm,
    close: () => queue.stop({ timeoutMs: 5_000 }),
    inspect: {
      ownJobs: async (tx, id) => queue.ownJobs(tx, id),
      jobsOf: async (assetId) => queue.jobsOf(assetId),
      state: async (id) => queue.stateOf(id),
    },
  };
});
