import { randomUUID } from 'node:crypto';
import { afterAll, expect, it, vi } from 'vitest';
import { createMemoryQueue } from '../../src/jobs/memory.queue.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { waitUntil } from './jobs.contract.js';

let db: TestDatabase | undefined;
afterAll(async () => {
  vi.restoreAllMocks();
  await db?.close();
});

// A timer may fire before Date.now() reaches the time it was set for (the two clocks differ by a
// millisecond or so; CI once saw a retry never run). Here Date.now() falls 20 ms behind the
// timers once the first attempt failed, so the retry's timer fires while the retry is not yet due.
it('a retry whose timer fires before Date.now() says it is due still runs', async () => {
  db = await createTestDatabase('pglite', { migrated: false });
  const queue = createMemoryQueue({ orm: db.orm, retry: { retryLimit: 2, retryDelaySeconds: 0.05, retryDelayMaxSeconds: 1 } });
  const realNow = Date.now.bind(Date);
  let lag = 0;
  vi.spyOn(Date, 'now').mockImplementation(() => realNow() - lag);
  const attempts: number[] = [];
  await db.orm.em.fork().transactional((tx) => queue.enqueue(tx, 'asset.process', { assetId: randomUUID() }));
  await queue.work('asset.process', { concurrency: 1 }, async (job) => {
    attempts.push(job.attempt);
    if (job.attempt === 1) {
      setTimeout(() => (lag = 20), 10);
      throw new Error('transient failure');
    }
  });
  try {
    await waitUntil(async () => (await queue.counts('asset.process')).completed === 1, () => `the retry ran (attempts: ${attempts.join(', ')})`, 3_000);
    expect(attempts).toEqual([1, 2]);
  } finally {
    await queue.stop({ timeoutMs: 1_000 });
  }
});
