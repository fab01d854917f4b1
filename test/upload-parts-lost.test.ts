import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Upload } from '../src/db/entities/index.js';
import { createActor } from '../src/domain/actor.js';
import { AppError } from '../src/domain/errors.js';
import { type AssetIntake, createUpload, PART_SIZE, receiveBytes } from '../src/domain/upload/upload.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import type { S3Storage } from '../src/storage/s3.storage.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeChest } from './support/factories.js';
import { testGuard } from './support/graphql.js';
import { wav } from './support/media.js';
import { startStorageEnv, type StorageEnv } from './support/storage.js';

const MiB = 1024 * 1024;

/**
 * On S3 an upload's parts wait in a multipart upload, which a store may expire (MinIO after 24 h
 * by default, AWS by a lifecycle rule). s3rver expires nothing and, for an unknown upload id,
 * neither answers NoSuchUpload: the client is made to get the answer S3 and MinIO give then.
 */
describe('an upload whose staged parts the S3 store expired', () => {
  let db: TestDatabase;
  let env: StorageEnv;
  let storage: S3Storage;
  let intake: AssetIntake;
  const policy = loadConfig({}).uploads;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    env = await startStorageEnv('s3');
    storage = (await createStorage(loadConfig(env.env).storage)) as S3Storage;
    intake = { queue: await createPgBossQueue({ orm: db.orm, supervise: false, log: pino({ level: 'silent' }) }), events: new InProcessEventBus() };
  });
  afterAll(async () => {
    await intake?.queue.stop();
    await env?.stop();
    await db?.close();
  });

  it.each(['next part', 'finish'] as const)('is FAILED with a clear reason at the %s, not a 500', async (when) => {
    const bytes = Buffer.concat([wav(4096), randomBytes(2 * PART_SIZE + MiB)]);
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const { upload } = await createUpload(em, createActor(em, account.id), { chestId: chest.id, filename: 'a.wav', size: bytes.length, mimeType: 'audio/wav' }, policy, testGuard());
    const send = async (from: number, to: number) => {
      const fresh = db.orm.em.fork();
      return receiveBytes({ em: fresh, storage, policy, intake }, { upload: await fresh.findOneOrFail(Upload, upload.id), offset: from, body: Readable.from([bytes.subarray(from, to)]) });
    };
    const cut = when === 'next part' ? PART_SIZE : 2 * PART_SIZE;
    await send(0, cut);
    const expired = Object.assign(new Error('The specified multipart upload does not exist.'), { code: 'NoSuchUpload' });
    const method = when === 'next part' ? 'uploadPart' : 'completeMultipartUpload';
    const spy = vi.spyOn(storage.client, method).mockRejectedValue(expired);
    try {
      const err = await send(cut, bytes.length).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/no longer in storage.*start the upload again/) });
      expect(spy).toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
    const row = await db.orm.em.fork().findOneOrFail(Upload, upload.id);
    expect([row.status, row.error]).toEqual(['FAILED', expect.stringMatching(/no longer in storage/)]);
  });
});
