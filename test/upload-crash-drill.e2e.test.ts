import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';
import { Asset } from '../src/db/entities/index.js';
import { UPLOAD_STEPS } from '../src/domain/upload/upload-faults.js';
import { sweep } from '../src/domain/upload/sweeper.js';
import type { StorageBackend } from '../src/storage/storage.port.js';
import { createStorage } from '../src/storage/storage.registry.js';
import { createTestDatabase, TEST_SECRET_KEY, type TestDatabase } from './support/db.js';
import { makeAccount, makeChest } from './support/factories.js';
import { wav } from './support/media.js';
import { type ProductProcess, startApi } from './support/processes.js';
import { type StorageEnv, STORAGE_ENVS, startStorageEnv } from './support/storage.js';

/**
 * The crash drill of issue 11 (RELIABILITY.md, "Uploads: the API killed between storage write and
 * commit"). An API process is SIGKILLed at each of the four upload steps between a storage write
 * and its record (UPLOAD_DRILL_KILL_AT, see upload-faults.ts), RUNS times per step, after 0 or 1
 * passes of that step. A second API that is never killed resumes the interrupted upload the way
 * docs/uploads.md ("Uploading memories") tells clients to (HEAD, then PATCH from Upload-Offset, waiting out 409s). In the end,
 * after one sweep: every acknowledged upload and every resumed one is a memory whose stored bytes
 * have its SHA-256, no row lacks its object, no original lacks its row.
 *
 * CI runs 2 per step; the full drill is `UPLOAD_DRILL_RUNS=25 npx vitest run test/upload-crash-drill.e2e.test.ts`.
 */
const RUNS = Number(process.env.UPLOAD_DRILL_RUNS ?? 2);
const STORAGES = (process.env.UPLOAD_DRILL_STORAGE ?? STORAGE_ENVS.join(',')).split(',') as (typeof STORAGE_ENVS)[number][];
const MiB = 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe.each(STORAGES)('crash drill: the API SIGKILLed between storage write and commit, on %s', (storageName) => {
  let db: TestDatabase;
  let storageEnv: StorageEnv;
  let storage: StorageBackend;
  let env: Record<string, string>;
  let healthy: { proc: ProductProcess; url: string };
  let token: string;
  let chestId: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    storageEnv = await startStorageEnv(storageName);
    env = {
      DATABASE_URL: db.url,
      SECRET_KEY: TEST_SECRET_KEY,
      ...storageEnv.env,
      // Sweeps only when the drill says so; a dead holder's lease lapses within a second.
      SWEEP_INTERVAL_MINUTES: '0',
      UPLOAD_LEASE_SECONDS: '1',
    };
    storage = await createStorage(loadConfig(env).storage);
    healthy = await startApi(env);
    const em = db.orm.em.fork();
    const owner = await makeAccount(em);
    token = owner.token;
    chestId = (await makeChest(em, {}, owner.account)).id;
  }, 120_000);
  afterAll(async () => {
    // SIGKILL: a graceful stop may wait on its pools after the drill's database is gone.
    await healthy?.proc.kill('SIGKILL');
    await storageEnv?.stop();
    await db?.close();
  });

  async function ticket(bytes: Buffer) {
    const res = await fetch(`${healthy.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } upload { id } } }`,
        variables: { i: { chestId, filename: 'drill.wav', size: bytes.length, mimeType: 'audio/wav' } },
      }),
      signal: AbortSignal.timeout(30_000),
    });
    const t = ((await res.json()) as any).data.createUpload;
    return { path: t.url as string, headers: Object.fromEntries(t.headers.map((h: any) => [h.name, h.value])) as Record<string, string> };
  }

  /** A PATCH; null when the process died under it (no answer: nothing acknowledged). */
  async function patch(base: string, t: { path: string; headers: Record<string, string> }, offset: number, body: Buffer) {
    try {
      const res = await fetch(`${base}${t.path}`, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': String(offset) }, body, signal: AbortSignal.timeout(60_000) });
      return { status: res.status, offset: Number(res.headers.get('upload-offset')), body: (await res.json()) as any };
    } catch {
      return null;
    }
  }

  /** What a client does after losing an answer: HEAD, PATCH from the offset; 409 means "wait and ask again". */
  async function resume(t: { path: string; headers: Record<string, string> }, bytes: Buffer) {
    for (let attempt = 0; attempt < 60; attempt++) {
      const head = await fetch(`${healthy.url}${t.path}`, { method: 'HEAD', headers: t.headers, signal: AbortSignal.timeout(30_000) });
      const offset = Number(head.headers.get('upload-offset'));
      const res = await patch(healthy.url, t, offset, bytes.subarray(offset));
      if (res?.status === 200) return res.body as { status: string; assetId: string };
      if (res?.status !== 409) throw new Error(`resume answered ${res?.status}: ${JSON.stringify(res?.body)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error('resume never got the ticket');
  }

  const expected = new Map<string, string>(); // assetId → SHA-256 the client sent
  const tally = { kills: 0, acknowledged: 0, resumed: 0, lost: 0 };

  it.each(UPLOAD_STEPS)(`killed at %s, ${RUNS} times: every acknowledged upload kept, every interrupted one resumes`, { timeout: 60_000 + RUNS * 40_000 }, async (step) => {
    for (let run = 0; run < RUNS; run++) {
      const dying = await startApi({ ...env, UPLOAD_DRILL_KILL_AT: `${step}:${run % 2}` });
      let interrupted: { t: Awaited<ReturnType<typeof ticket>>; bytes: Buffer } | null = null;
      // Uploads of 10 MiB (two parts) until the process dies; unique bytes, so none is a duplicate.
      for (let i = 0; i < 4 && !interrupted; i++) {
        const bytes = wav(5 * MiB);
        randomBytes(64).copy(bytes, 1000);
        const t = await ticket(bytes);
        const res = await patch(dying.url, t, 0, bytes);
        if (res?.status === 200 && res.body.status === 'COMPLETE') {
          expected.set(res.body.assetId, sha(bytes));
          tally.acknowledged++;
        } else if (res === null) interrupted = { t, bytes };
        else throw new Error(`the dying API answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
      expect(interrupted, `no kill at ${step}`).not.toBeNull();
      await dying.proc.exited;
      expect(dying.proc.child.signalCode).toBe('SIGKILL');
      tally.kills++;
      const done = await resume(interrupted!.t, interrupted!.bytes);
      expect(done.status).toBe('COMPLETE');
      expected.set(done.assetId, sha(interrupted!.bytes));
      tally.resumed++;
    }
  });

  it('after one sweep: no acknowledged upload lost, no row without its object, no original without its row', { timeout: 120_000 }, async () => {
    const report = await sweep(db.orm.em.fork(), storage, { graceMs: 0 });
    expect(report.missingObjects).toEqual([]);
    for (const [assetId, want] of expected) {
      const asset = await db.orm.em.fork().findOne(Asset, assetId);
      const h = createHash('sha256');
      if (asset) for await (const c of await storage.get(asset.storageKey)) h.update(c as Buffer);
      if (!asset || asset.sha256 !== want || h.digest('hex') !== want) tally.lost++;
    }
    expect(tally.lost).toBe(0);
    const rows = new Set((await db.orm.em.fork().find(Asset, {}, { fields: ['storageKey'] })).map((a) => a.storageKey));
    const originals: string[] = [];
    for await (const o of storage.list(`chests/${chestId}/originals/`)) originals.push(o.key);
    expect(originals.filter((k) => !rows.has(k))).toEqual([]);
    expect(rows.size).toBe(expected.size);
    console.log(
      `crash drill on ${storageName}: ${RUNS} runs x ${UPLOAD_STEPS.length} steps, ${tally.kills} kills, ${tally.acknowledged} acknowledged + ${tally.resumed} resumed uploads, ` +
        `${tally.lost} lost, ${report.orphansRemoved.length} orphan originals and ${report.tempFilesRemoved} temp files removed by one sweep, ${report.missingObjects.length} rows without their object`,
    );
  });
});
