import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Upload } from '../src/db/entities/index.js';
import type { UploadFaults, UploadStep } from '../src/domain/upload/upload-faults.js';
import { stagingPrefix } from '../src/domain/upload/upload-parts.js';
import { PART_SIZE } from '../src/domain/upload/upload.service.js';
import { ADMIN_URL } from './support/db.js';
import { makeAccount, makeChest } from './support/factories.js';
import { wav } from './support/media.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';
import { type StorageEnv, STORAGE_ENVS, startStorageEnv } from './support/storage.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MiB = 1024 * 1024;
/** Every request of these tests must finish; a hang fails the test instead of stalling it. */
const BOUND = () => AbortSignal.timeout(30_000);

/**
 * Issue 11: any state between "part stored" and "part recorded" resumes. Faults are injected at
 * the upload steps through the one seam (upload-faults.ts) into the real HTTP app, on real
 * Postgres and real storage; the app reaches Postgres through a TCP proxy, so a cut is a real one
 * (its connections destroyed, new ones refused).
 */
describe.each(STORAGE_ENVS)('uploads reconcile storage and database, on %s', (storageName) => {
  let server: TestServer;
  let proxy: TcpProxy;
  let storageEnv: StorageEnv;
  let token: string;
  let chestId: string;
  let fault: ((step: UploadStep) => void | Promise<void>) | null = null;
  const faults: UploadFaults = (step) => fault?.(step);

  beforeAll(async () => {
    storageEnv = await startStorageEnv(storageName);
    const pgAddress = new URL(ADMIN_URL);
    proxy = await startTcpProxy({ host: pgAddress.hostname, port: Number(pgAddress.port || 5432) });
    // A short lease: a request that died holding the ticket frees it soon.
    server = await startTestServer(
      { ...storageEnv.env, UPLOAD_LEASE_SECONDS: '2', DB_ACQUIRE_TIMEOUT_SECONDS: '1' },
      {
        uploadFaults: faults,
        databaseUrl: (url) => {
          const via = new URL(url);
          via.hostname = '127.0.0.1';
          via.port = String(proxy.port);
          return via.toString();
        },
      },
    );
    const em = server.db.orm.em.fork();
    const owner = await makeAccount(em);
    token = owner.token;
    chestId = (await makeChest(em, {}, owner.account)).id;
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await proxy?.close();
    await storageEnv?.stop();
  });

  /** Once `step` has passed `skip` times, do `what` there (once). */
  const at = (step: UploadStep, skip: number, what: () => void | Promise<void>) => {
    let passes = 0;
    fault = async (s) => {
      if (s !== step || passes++ !== skip) return;
      await what();
    };
  };

  /** The app's database connections break, and stay broken until the test restores them. */
  const cutDatabase = () => proxy.cut();

  async function ticket(bytes: Buffer, filename: string) {
    const res = await fetch(`${server.app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } upload { id } } }`,
        variables: { i: { chestId, filename, size: bytes.length, mimeType: 'audio/wav' } },
      }),
      signal: BOUND(),
    });
    const t = ((await res.json()) as any).data.createUpload;
    return { url: `${server.app.url()}${t.url}`, headers: Object.fromEntries(t.headers.map((h: any) => [h.name, h.value])) as Record<string, string>, id: t.upload.id as string };
  }
  type Ticket = Awaited<ReturnType<typeof ticket>>;

  async function patch(t: Ticket, offset: number, body: Buffer) {
    const res = await fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': String(offset) }, body, signal: BOUND() });
    return { status: res.status, offset: res.headers.get('upload-offset'), retryAfter: res.headers.get('retry-after'), body: (await res.json()) as any };
  }
  const head = async (t: Ticket) => Number((await fetch(t.url, { method: 'HEAD', headers: t.headers, signal: BOUND() })).headers.get('upload-offset'));

  /** HEAD until the server reports `want` (the failed request's lease may still be held for a moment). */
  async function headUntil(t: Ticket, want: number) {
    let got = -1;
    for (let i = 0; i < 40 && got !== want; i++) {
      got = await head(t);
      if (got !== want) await new Promise((r) => setTimeout(r, 150));
    }
    return got;
  }

  /** PATCH, waiting out 409s from a lease that a failed request could not give back (the database was cut). */
  async function patchWhenFree(t: Ticket, offset: number, body: Buffer) {
    for (let i = 0; ; i++) {
      const res = await patch(t, offset, body);
      if (res.status !== 409 || res.offset !== String(offset) || i === 40) return res;
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  async function storedSha(assetId: string) {
    const asset = await server.db.orm.em.fork().findOneOrFail(Asset, assetId);
    const h = createHash('sha256');
    for await (const c of await server.app.storage.get(asset.storageKey)) h.update(c as Buffer);
    return { row: asset.sha256, object: h.digest('hex') };
  }

  it('a connection cut between storing part 2 of a 20 MiB upload and recording it: 5xx, then HEAD adopts the part and the resume completes', { timeout: 90_000 }, async () => {
    const audio = wav(10 * MiB); // 20 MiB: parts of 8, 8 and 4 MiB
    const t = await ticket(audio, 'cut.wav');
    at('part-stored', 1, cutDatabase);
    const failed = await patch(t, 0, audio);
    fault = null;
    proxy.restore();
    expect(failed.status).toBeGreaterThanOrEqual(500);
    expect(failed.offset).toBe(String(PART_SIZE));
    // Storage holds part 2, the row counts part 1 only: the very state of the issue.
    expect(await server.app.storage.statPart(stagingPrefix(t.id), PART_SIZE)).toMatchObject({ at: PART_SIZE, size: PART_SIZE });
    // Part 3 arrived while part 2 was being recorded, but never ends before part 2 is recorded:
    // at most one part is stored and not recorded.
    expect(await server.app.storage.statPart(stagingPrefix(t.id), 2 * PART_SIZE)).toBeNull();
    expect(await server.db.orm.em.fork().findOneOrFail(Upload, t.id)).toMatchObject({ receivedBytes: PART_SIZE, parts: 1 });

    expect(await headUntil(t, 2 * PART_SIZE)).toBe(2 * PART_SIZE);
    const done = await patchWhenFree(t, 2 * PART_SIZE, audio.subarray(2 * PART_SIZE));
    expect(done).toMatchObject({ status: 200, body: { status: 'COMPLETE' } });
    expect(await storedSha(done.body.assetId)).toEqual({ row: sha(audio), object: sha(audio) });
  });

  it('the same cut, then a PATCH straight from the offset the 5xx gave: the stored-but-unrecorded part is replaced', { timeout: 90_000 }, async () => {
    const audio = wav(10 * MiB);
    const t = await ticket(audio, 'cut-direct.wav');
    at('part-stored', 1, cutDatabase);
    const failed = await patch(t, 0, audio);
    fault = null;
    proxy.restore();
    expect(failed.status).toBeGreaterThanOrEqual(500);
    const done = await patchWhenFree(t, Number(failed.offset), audio.subarray(Number(failed.offset)));
    expect(done).toMatchObject({ status: 200, body: { status: 'COMPLETE' } });
    expect(await storedSha(done.body.assetId)).toEqual({ row: sha(audio), object: sha(audio) });
  });

  it('a database error after the original is written: 500; an empty PATCH at the full length finishes it, and one sweep removes the orphan', { timeout: 90_000 }, async () => {
    const audio = wav(3 * MiB);
    const t = await ticket(audio, 'error.wav');
    at('original-stored', 0, () => {
      throw new Error('injected database error');
    });
    expect((await patch(t, 0, audio)).status).toBe(500);
    fault = null;
    expect(await headUntil(t, audio.length)).toBe(audio.length);
    const done = await patchWhenFree(t, audio.length, Buffer.alloc(0));
    expect(done).toMatchObject({ status: 200, body: { status: 'COMPLETE' } });
    expect(await storedSha(done.body.assetId)).toEqual({ row: sha(audio), object: sha(audio) });
    const { sweep } = await import('../src/domain/upload/sweeper.js');
    const report = await sweep(server.db.orm.em.fork(), server.app.storage, { graceMs: 0 });
    expect(report.orphansRemoved).toHaveLength(1);
    expect(report.missingObjects).toEqual([]);
    expect(await storedSha(done.body.assetId)).toEqual({ row: sha(audio), object: sha(audio) });
  });

  it('an answer lost after the commit: the same PATCH again says COMPLETE with the same memory, nothing twice', { timeout: 60_000 }, async () => {
    const audio = wav(MiB);
    const t = await ticket(audio, 'lost-answer.wav');
    at('asset-committed', 0, () => {
      throw new Error('injected failure after the commit');
    });
    expect((await patch(t, 0, audio)).status).toBe(500);
    fault = null;
    const again = await patch(t, audio.length, Buffer.alloc(0));
    expect(again).toMatchObject({ status: 200, offset: String(audio.length), body: { status: 'COMPLETE', duplicate: false } });
    expect(await server.db.orm.em.fork().count(Asset, { sha256: sha(audio) })).toBe(1);
  });

  it('two PATCHes at once on one ticket: one wins, the other is 409 with the current Upload-Offset, never a 500', { timeout: 90_000 }, async () => {
    const audio = wav(5 * MiB);
    const t = await ticket(audio, 'race.wav');
    const both = await Promise.all([patch(t, 0, audio), patch(t, 0, audio)]);
    const statuses = both.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 409]);
    const loser = both.find((r) => r.status === 409)!;
    expect(loser.body.errors[0].extensions.code).toBe('CONFLICT');
    expect(loser.offset).toMatch(/^\d+$/);
    expect(Number(loser.retryAfter) >= 1 || loser.offset === String(audio.length)).toBe(true);
    const winner = both.find((r) => r.status === 200)!;
    expect(await storedSha(winner.body.assetId)).toEqual({ row: sha(audio), object: sha(audio) });
  });

  it('a PATCH while another is mid-body: 409 at once with the recorded offset; the first one completes', { timeout: 90_000 }, async () => {
    const audio = wav(10 * MiB);
    const t = await ticket(audio, 'mid-body.wav');
    let answer!: (r: { status: number; body: any }) => void;
    const first = new Promise<{ status: number; body: any }>((r) => (answer = r));
    const req = request(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': '0', 'Content-Length': String(audio.length) } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => answer({ status: res.statusCode!, body: JSON.parse(text) }));
    });
    // 9 MiB in: part 1 is recorded, part 2 is being written.
    await new Promise<void>((r) => req.write(audio.subarray(0, 9 * MiB), () => r()));
    expect(await headUntil(t, PART_SIZE)).toBe(PART_SIZE);
    const second = await patch(t, PART_SIZE, audio.subarray(PART_SIZE));
    expect(second).toMatchObject({ status: 409, offset: String(PART_SIZE), body: { errors: [{ extensions: { code: 'CONFLICT' } }] } });
    expect(Number(second.retryAfter)).toBeGreaterThanOrEqual(1);
    req.end(audio.subarray(9 * MiB));
    const done = await Promise.race([first, new Promise<never>((_, reject) => BOUND().addEventListener('abort', () => reject(new Error('no answer'))))]);
    expect(done).toMatchObject({ status: 200, body: { status: 'COMPLETE' } });
    expect(await storedSha(done.body.assetId)).toEqual({ row: sha(audio), object: sha(audio) });
  });
});
