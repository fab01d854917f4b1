import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { randomUUID } from 'node:crypto';
import { Asset, ChestEvent, Upload } from '../src/db/entities/index.js';
import { ChestEventKind } from '../src/db/enums.js';
import { emitChestEvent } from '../src/domain/events/chest-events.service.js';
import { derivativeSink } from '../src/domain/processing/derivatives.js';
import { createActor } from '../src/domain/actor.js';
import { sweep } from '../src/domain/upload/sweeper.js';
import { type AssetIntake, createUpload, receiveBytes } from '../src/domain/upload/upload.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { createPgBossQueue } from '../src/jobs/pg-boss.queue.js';
import { pino } from 'pino';
import { UploadConflictError } from '../src/domain/upload/upload-lease.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { testGuard } from './support/graphql.js';
import { makeAccount, makeAsset, makeChest } from './support/factories.js';
import { jpeg, wav } from './support/media.js';
import { type StorageEnv, STORAGE_ENVS, startStorageEnv } from './support/storage.js';

const ROOT = join(import.meta.dirname, '..');

describe.each(STORAGE_ENVS)('a crash between storing an original and committing its row, on %s', (name) => {
  let db: TestDatabase;
  let env: StorageEnv;
  let storage: StorageBackend;
  let storageConfig: ReturnType<typeof loadConfig>['storage'];
  let intake: AssetIntake;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    env = await startStorageEnv(name);
    storageConfig = loadConfig(env.env).storage;
    storage = await createStorage(storageConfig);
    intake = { queue: await createPgBossQueue({ orm: db.orm, supervise: false, log: pino({ level: 'silent' }) }), events: new InProcessEventBus() };
  });
  afterAll(async () => {
    await intake?.queue.stop();
    await env?.stop();
    await db?.close();
  });

  const originals = async (chestId: string) => {
    const keys: string[] = [];
    for await (const o of storage.list(`chests/${chestId}/originals/`)) keys.push(o.key);
    return keys;
  };

  it('leaves no row without its object; the sweeper removes the orphan; the upload can still finish', { timeout: 60_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const photo = await jpeg(50, 50, '#345');
    const policy = loadConfig({}).uploads;
    const { upload } = await createUpload(em, createActor(em, account.id), { chestId: chest.id, filename: 'p.jpg', size: photo.length, mimeType: 'image/jpeg' }, policy, testGuard());
    const file = join(await mkdtemp(join(tmpdir(), 'dmc-crash-')), 'p.jpg');
    await writeFile(file, photo);

    const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/crash-while-finishing.ts', db.url, JSON.stringify(storageConfig), upload.id, file], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const signal = await new Promise((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
    expect(signal, stderr).toBe('SIGKILL');

    // The object landed, the row did not, and neither did its processing job (same transaction).
    expect(await db.orm.em.fork().count(Asset, { chest: chest.id })).toBe(0);
    expect((await intake.queue.counts('asset.process')).created).toBe(0);
    const [orphan] = await originals(chest.id);
    expect(orphan).toBeDefined();

    // Within the grace period nothing is touched (it could be an upload finishing right now).
    expect((await sweep(db.orm.em.fork(), storage, { graceMs: 60_000 })).orphansRemoved).toEqual([]);
    const report = await sweep(db.orm.em.fork(), storage, { graceMs: 0 });
    expect(report.orphansRemoved).toEqual([orphan]);
    expect(report.missingObjects).toEqual([]);
    expect(await originals(chest.id)).toEqual([]);

    // The staging parts survived, so the client finishes with an empty PATCH at the full offset,
    // once the dead process's lease on the ticket has lapsed (409 with the offset until then).
    const again = await db.orm.em.fork().findOneOrFail(Upload, upload.id);
    expect(again).toMatchObject({ status: 'OPEN', receivedBytes: photo.length });
    let conflicts = 0;
    const done = await (async function resume(): Promise<Awaited<ReturnType<typeof receiveBytes>>> {
      try {
        return await receiveBytes({ em: db.orm.em.fork(), storage, policy, intake }, { upload: again, offset: photo.length, body: Readable.from([]) });
      } catch (err) {
        if (!(err instanceof UploadConflictError) || ++conflicts > 40) throw err;
        expect(err.offset).toBe(photo.length);
        await new Promise((r) => setTimeout(r, 100));
        return resume();
      }
    })();
    expect(done.upload.status).toBe('COMPLETE');
    expect((await intake.queue.counts('asset.process')).created).toBe(1);
    const asset = await db.orm.em.fork().findOneOrFail(Asset, { chest: chest.id });
    expect(await storage.stat(asset.storageKey)).toMatchObject({ size: photo.length });
    expect(await sweep(db.orm.em.fork(), storage, { graceMs: 0 })).toMatchObject({ orphansRemoved: [], missingObjects: [] });
  });

  it('reports rows whose object is missing, and clears abandoned staging and expired tickets', async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const policy = loadConfig({}).uploads;
    const photo = await jpeg(20, 20, '#987');
    const actor = createActor(em, account.id);
    const { upload: kept } = await createUpload(em, actor, { chestId: chest.id, filename: 'k.jpg', size: photo.length, mimeType: 'image/jpeg' }, policy, testGuard());
    await receiveBytes({ em, storage, policy, intake }, { upload: kept, offset: 0, body: Readable.from([photo]) });
    const asset = await db.orm.em.fork().findOneOrFail(Asset, { chest: chest.id });
    await storage.delete(asset.storageKey);

    const { upload: abandoned } = await createUpload(em, actor, { chestId: chest.id, filename: 'a.wav', size: 20 * 1024 * 1024, mimeType: 'audio/wav' }, policy, testGuard());
    await receiveBytes({ em, storage, policy, intake }, { upload: abandoned, offset: 0, body: Readable.from([wav(10 * 1024 * 1024).subarray(0, 9 * 1024 * 1024)]) });
    await em.nativeUpdate(Upload, { id: abandoned.id }, { expiresAt: new Date(Date.now() - 1000) });

    const report = await sweep(db.orm.em.fork(), storage, { graceMs: 0 });
    expect(report.missingObjects).toContainEqual({ assetId: asset.id, storageKey: asset.storageKey });
    expect(report.expiredUploads).toContain(abandoned.id);
    expect(report.stagingRemoved.some((k) => k.includes(abandoned.id))).toBe(true);
    expect(await db.orm.em.fork().count(Asset, { id: asset.id })).toBe(1); // reported, never deleted
  });

  it('removes derivatives of memories that do not exist, keeps those that do, and prunes old events', async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em);
    const chest = await makeChest(em, {}, account);
    const asset = await makeAsset(em, chest);
    const written = new Set<string>();
    const keep = await derivativeSink(storage, asset, written)('256', Buffer.from('webp bytes'), 'image/webp');
    const ghost = { id: randomUUID(), chest: { id: chest.id } };
    const lost = await derivativeSink(storage, ghost, written)('256', Buffer.from('webp bytes'), 'image/webp');
    const old = await emitChestEvent(em, intake.events, { chestId: chest.id, kind: ChestEventKind.MEMORY_ADDED, assetId: asset.id });
    await em.nativeUpdate(ChestEvent, { chest: chest.id, seq: old.seq }, { createdAt: new Date(Date.now() - 40 * 86_400_000) });
    const recent = await emitChestEvent(em, intake.events, { chestId: chest.id, kind: ChestEventKind.MEMORY_ADDED, assetId: asset.id });

    const report = await sweep(db.orm.em.fork(), storage, { graceMs: 0, eventRetentionMs: 30 * 86_400_000 });
    expect(report.derivativesRemoved).toEqual([lost]);
    expect(await storage.stat(keep)).not.toBeNull();
    expect(await storage.stat(lost)).toBeNull();
    expect(report.eventsPruned).toBeGreaterThanOrEqual(1);
    const left = await db.orm.em.fork().find(ChestEvent, { chest: chest.id });
    expect(left.map((e) => e.seq)).toEqual([recent.seq]);
  });
});
