import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { Asset, type Chest } from '../../src/db/entities/index.js';
import { ProcessingStatus } from '../../src/db/enums.js';
import { deathsInARow, MAX_PROCESS_DEATHS, NOT_THE_FILES_DOING, processAsset, type ProcessingDeps } from '../../src/domain/processing/processing.service.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeChest } from '../support/factories.js';
import { jpeg } from '../support/media.js';
import { storeOriginal } from '../support/worker-rig.js';

/**
 * A file that kills its whole worker process (a native out-of-memory no sandbox catches) leaves
 * the row as the dead attempt claimed it: PROCESSING, nothing after. The next attempt knows it
 * from that row; after the second such death the memory is FAILED with a reason, so the file
 * cannot take a worker down a third time. A death while the file was only being copied, or read
 * by a child process the worker watches, is not the file's doing and is not counted.
 */
describe('an asset whose process died while holding it', () => {
  let db: TestDatabase;
  let dataDir: string;
  let storage: StorageBackend;
  let chest: Chest;
  let deps: ProcessingDeps;
  const events = new InProcessEventBus();
  const job = (assetId: string) => ({ id: `job-${assetId}`, data: { assetId }, attempt: 2, signal: new AbortController().signal });

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-deaths-'));
    storage = await createStorage(loadConfig({ DATA_DIR: dataDir }).storage);
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    chest = await makeChest(em, {}, account);
    deps = { orm: db.orm, storage, events, log: pino({ level: 'silent' }) };
  });
  afterAll(async () => {
    await events.close();
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  /** A stored photo whose row is left as a dead attempt (or a finished one) left it. */
  async function photoLeft(state: { status: ProcessingStatus; processingAttempts: number; processingDeaths: number; processingStage?: string }) {
    const id = await storeOriginal(db.orm, storage, chest, { filename: 'garden.jpg', bytes: await jpeg(320, 240) });
    // 'thumbnails': the worker's own work on what the sandbox returned, where a death counts.
    await db.orm.em.fork().nativeUpdate(Asset, { id }, { processingStage: 'thumbnails', progress: 40, ...state });
    return id;
  }
  const row = (id: string) => db.orm.em.fork().findOneOrFail(Asset, { id });

  it('forgives the first death: the next attempt runs, and remembers it', async () => {
    const id = await photoLeft({ status: ProcessingStatus.PROCESSING, processingAttempts: 1, processingDeaths: 0 });
    await processAsset(deps, job(id));
    expect(await row(id)).toMatchObject({ status: ProcessingStatus.COMPLETE, processingDeaths: 1, processingAttempts: 2 });
  });

  it('fails the memory with a reason after the second, without running the pipeline again', async () => {
    expect(MAX_PROCESS_DEATHS).toBe(2);
    const id = await photoLeft({ status: ProcessingStatus.PROCESSING, processingAttempts: 2, processingDeaths: 1 });
    await processAsset(deps, job(id));
    const asset = await row(id);
    expect(asset).toMatchObject({
      status: ProcessingStatus.FAILED,
      processingError: 'Processing this file stopped its worker twice without finishing (it may be damaged, or built to exhaust servers), so it is not tried again',
      // Not claimed again: no attempt ran, no thumbnail was made.
      processingAttempts: 2,
      thumbnails: [],
    });
  });

  it.each(['download', 'decode', 'extract', 'probe', 'poster', 'waveform', 'rendition'])(
    'does not count a death in %s (the file copied, or read by a watched child process): the memory is processed',
    async (stage) => {
      expect(NOT_THE_FILES_DOING.has(stage)).toBe(true);
      const id = await photoLeft({ status: ProcessingStatus.PROCESSING, processingAttempts: 2, processingDeaths: 1, processingStage: stage });
      await processAsset(deps, job(id));
      // The earlier counted death is still remembered: deaths in a row, not reset by an uncounted one.
      expect(await row(id)).toMatchObject({ status: ProcessingStatus.COMPLETE, processingDeaths: 1, processingAttempts: 3 });
    },
  );

  it('counts a death in any stage not known to be isolated, a new one included', () => {
    const dead = { status: ProcessingStatus.PROCESSING, processingDeaths: 0 };
    expect(deathsInARow({ ...dead, processingStage: 'thumbnails' })).toBe(1);
    expect(deathsInARow({ ...dead, processingStage: 'fingerprints' })).toBe(1);
    expect(deathsInARow({ ...dead, processingStage: 'some-stage-added-later' })).toBe(1);
    expect(deathsInARow({ ...dead, processingStage: 'decode' })).toBe(0);
    expect(deathsInARow({ ...dead, status: ProcessingStatus.PENDING, processingStage: 'thumbnails', processingDeaths: 1 })).toBe(0);
  });

  it('counts deaths in a row only: an attempt that ended on its own (PENDING after a storage hiccup) starts from none', async () => {
    const id = await photoLeft({ status: ProcessingStatus.PENDING, processingAttempts: 3, processingDeaths: 1 });
    await processAsset(deps, job(id));
    expect(await row(id)).toMatchObject({ status: ProcessingStatus.COMPLETE, processingDeaths: 0 });
  });
});
