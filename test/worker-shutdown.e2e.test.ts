import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset } from '../src/db/entities/index.js';
import { FileType, ProcessingStatus } from '../src/db/enums.js';
import { eventually } from './support/client.js';
import { makeAccount, makeChest } from './support/factories.js';
import { buildPdf } from './support/media.js';
import { type ProductProcess, startWorkerProcess } from './support/processes.js';
import { openWorkerRig, type WorkerRig } from './support/worker-rig.js';

/**
 * SIGTERM with a job that cannot finish within SHUTDOWN_TIMEOUT_SECONDS (a 6,000-page diary takes
 * seconds to read): the worker still exits cleanly on time, the job goes back to the queue rather
 * than staying active, and the next worker finishes it — nothing is lost and nothing is stuck.
 */
describe('a worker stopped while a job outlasts the shutdown timeout', () => {
  let rig: WorkerRig;
  const workers: ProductProcess[] = [];

  beforeAll(async () => {
    rig = await openWorkerRig('shutdown', { WORKER_CONCURRENCY: '1', JOB_SUPERVISE_SECONDS: '1', JOB_RETRY_DELAY_SECONDS: '1' });
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.kill('SIGKILL')));
    await rig?.close();
  });

  it('releases the job in hand after the timeout, exits 0, and another worker finishes it', { timeout: 240_000 }, async () => {
    const em = rig.db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const pages = Array.from({ length: 6_000 }, (_, i) => [`Page ${i + 1} of the diary.`, 'Rose wrote about the garden and the choir.']);
    const pdf = buildPdf(pages);
    const assetId = await rig.store(chest, { filename: 'diary.pdf', bytes: pdf, fileType: FileType.DOCUMENT, mimeType: 'application/pdf' });
    const { db, queue, env } = rig;

    const first = await startWorkerProcess({ ...env, SHUTDOWN_TIMEOUT_SECONDS: '1' });
    workers.push(first);
    await first.waitForLog((l) => l.msg === 'processing' && l.assetId === assetId);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.logs.some((l) => l.msg === 'processed')).toBe(false);
    // Released, not left active: the queue holds it for a retry.
    const counts = await queue.counts('asset.process');
    expect(counts).toMatchObject({ active: 0, completed: 0 });
    expect(counts.retry + counts.created).toBe(1);
    const left = await db.orm.em.fork().findOneOrFail(Asset, { id: assetId });
    expect(left.status).not.toBe(ProcessingStatus.COMPLETE);

    const second = await startWorkerProcess(env);
    workers.push(second);
    const done = await eventually(async () => {
      const a = await db.orm.em.fork().findOneOrFail(Asset, { id: assetId });
      return a.status === ProcessingStatus.COMPLETE ? a : undefined;
    }, 180_000, 500);
    expect(done.extractedText).toContain('Page 6000 of the diary.');
    expect(done.processingAttempts).toBe(2);
    expect(await queue.counts('asset.process')).toMatchObject({ active: 0, retry: 0, created: 0, completed: 1 });
  });
});
