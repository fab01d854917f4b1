import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { Asset, Chest } from '../src/db/entities/index.js';
import { ChestEventKind, ChestRole, ProcessingStatus } from '../src/db/enums.js';
import { emitChestEvent } from '../src/domain/events/chest-events.service.js';
import { ADMIN_URL } from './support/db.js';
import { apiClient, type GqlResponse } from './support/client.js';
import { addMember, makeAccount, makeAsset } from './support/factories.js';
import { jpeg } from './support/media.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * Outage drills on the served mode (docs/operations.md "Outages", RELIABILITY.md): the app reaches PostgreSQL
 * through a TCP proxy the test cuts and hangs. Every request must answer 503 SERVICE_UNAVAILABLE
 * with Retry-After (GraphQL, upload HEAD and PATCH, downloads), a websocket must be closed with
 * 1013 (try again), a hung database must not hold requests past the configured timeouts, and once
 * the proxy forwards again the same requests succeed with no restart.
 */
describe('database outages: cut and hung', () => {
  let proxy: TcpProxy;
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let token: string;
  let chestId: string;
  let download: string;
  let photo: Buffer;
  let pending: { url: string; headers: Record<string, string>; bytes: Buffer }[];

  beforeAll(async () => {
    const pgAddress = new URL(ADMIN_URL);
    proxy = await startTcpProxy({ host: pgAddress.hostname, port: Number(pgAddress.port || 5432) });
    server = await startTestServer(
      // Short bounds so a hung database answers quickly here (defaults: 10 s and 30 s).
      { DB_ACQUIRE_TIMEOUT_SECONDS: '1', DB_STATEMENT_TIMEOUT_SECONDS: '1' },
      {
        databaseUrl: (url) => {
          const via = new URL(url);
          via.hostname = '127.0.0.1';
          via.port = String(proxy.port);
          return via.toString();
        },
      },
    );
    api = apiClient(server.app.url());
    token = await api.signUp('outage.owner@example.com');
    chestId = await api.createChest(token);
    photo = await jpeg(80, 60);
    const assetId = await api.upload(token, chestId, photo, 'before.jpg', 'image/jpeg');
    const d = await api.must(`query($id: ID!) { asset(id: $id) { originalUrl } }`, { id: assetId }, token);
    download = new URL(d.asset.originalUrl, server.app.url()).toString();
    // Tickets whose bytes are sent during and after the outages: one per phase that must succeed.
    pending = [];
    for (let i = 0; i < 2; i++) {
      const bytes = await jpeg(64 + i, 48, '#a47');
      const t = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { chestId, filename: `during-${i}.jpg`, size: bytes.length, mimeType: 'image/jpeg' } }, token);
      pending.push({ url: new URL(t.createUpload.url, server.app.url()).toString(), headers: Object.fromEntries(t.createUpload.headers.map((h: { name: string; value: string }) => [h.name, h.value])), bytes });
    }
  }, 120_000);
  afterAll(async () => {
    proxy?.restore();
    await server?.stop();
    await proxy?.close();
  });

  const graphql = (query: string, withToken = true) =>
    fetch(`${server.app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(withToken && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query }),
    });
  const head = (u: (typeof pending)[number]) => fetch(u.url, { method: 'HEAD', headers: u.headers });
  const patch = (u: (typeof pending)[number]) => fetch(u.url, { method: 'PATCH', headers: { ...u.headers, 'Upload-Offset': '0' }, body: u.bytes });

  /** How a websocket connection ends: its close code (or 'open' once acknowledged). */
  const socketOutcome = () =>
    new Promise<number | 'open'>((resolve) => {
      const ws = new WebSocket(`${server.app.url().replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })));
      ws.on('message', (m) => {
        if (JSON.parse(String(m)).type === 'connection_ack') {
          ws.close(1000);
          resolve('open');
        }
      });
      ws.on('close', (code) => resolve(code));
      ws.on('error', () => undefined);
    });

  /** Every kind of request during an outage: all 503 SERVICE_UNAVAILABLE with Retry-After. */
  async function expectUnavailable() {
    // Signed in: the session lookup in the context fails.
    const signedIn = await graphql(`{ chests { edges { node { id } } } }`);
    expect(signedIn.status).toBe(503);
    expect(signedIn.headers.get('retry-after')).toBe('5');
    expect(((await signedIn.json()) as any).errors[0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfter: 5 });
    // Anonymous: a resolver's query fails.
    const anonymous = await graphql(`query { chest(id: "${chestId}") { id } }`, false);
    expect(anonymous.status).toBe(503);
    expect(anonymous.headers.get('retry-after')).toBe('5');
    expect(((await anonymous.json()) as any).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');

    const h = await head(pending[0]!);
    expect([h.status, h.headers.get('retry-after')]).toEqual([503, '5']);
    const p = await patch(pending[0]!);
    expect([p.status, p.headers.get('retry-after')]).toEqual([503, '5']);
    expect(((await p.json()) as any).errors[0].extensions.code).toBe('SERVICE_UNAVAILABLE');
    const g = await fetch(download);
    expect([g.status, g.headers.get('retry-after')]).toEqual([503, '5']);
    expect(await socketOutcome()).toBe(1013);
  }

  /** The same requests once the database is back: all succeed, nothing restarted. */
  async function expectRecovered(upload: (typeof pending)[number]) {
    // The pool drops the broken connections as it meets them: allow a few requests to find out.
    await expect.poll(async () => (await graphql(`{ chests { edges { node { id } } } }`)).status, { timeout: 15_000, interval: 200 }).toBe(200);
    expect((await graphql(`query { chest(id: "${chestId}") { id } }`, false)).status).toBe(200);
    expect((await head(upload)).status).toBe(200);
    const p = await patch(upload);
    expect(p.status).toBe(200);
    expect(((await p.json()) as any).assetId).toEqual(expect.any(String));
    const g = await fetch(download);
    expect(g.status).toBe(200);
    expect(createHash('sha256').update(Buffer.from(await g.arrayBuffer())).digest('hex')).toBe(createHash('sha256').update(photo).digest('hex'));
    expect(await socketOutcome()).toBe('open');
  }

  it('cut: 503 SERVICE_UNAVAILABLE + Retry-After everywhere, websocket 1013; restored: all succeed without restart', { timeout: 60_000 }, async () => {
    proxy.cut();
    await expectUnavailable();
    proxy.restore();
    await expectRecovered(pending[0]!);
  });

  it('hung: the same answers within the configured timeouts (no request waits for the client to give up); restored: all succeed', { timeout: 90_000 }, async () => {
    proxy.hang();
    await expectUnavailable();
    proxy.restore();
    await expectRecovered(pending[1]!);
    // Every upload sent during the outages is there once: nothing lost, nothing doubled.
    const d = await api.must(`query($c: ID!) { chest(id: $c) { assets(first: 10) { edges { node { filename } } } } }`, { c: chestId }, token);
    expect(d.chest.assets.edges.map((e: any) => e.node.filename).sort()).toEqual(['before.jpg', 'during-0.jpg', 'during-1.jpg']);
  });
});

/** Uploads in flight when S3 goes away; CI runs 3, the full drill (RELIABILITY.md) 20. */
const DRILL_UPLOADS = Number(process.env.OUTAGE_DRILL_UPLOADS ?? 3);

/**
 * The S3 server (s3rver, same port and folder) stopped while uploads are being sent and started
 * again: every PATCH meanwhile answers 503 SERVICE_UNAVAILABLE with Retry-After, clients resume
 * from HEAD's offset, and every upload ends as exactly one asset with its bytes.
 */
describe('storage outage: S3 restarted under uploads', () => {
  let dir: string;
  let port: number;
  let s3: S3rver;
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  const startS3 = async (at: number) => {
    s3 = new S3rver({ address: '127.0.0.1', port: at, silent: true, directory: dir });
    return ((await s3.run()) as { port: number }).port;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dmc-s3-outage-'));
    port = await startS3(0);
    server = await startTestServer({ S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'S3RVER', S3_BUCKET: 'memory-chest-outage' });
    api = apiClient(server.app.url());
  }, 120_000);
  afterAll(async () => {
    await server?.stop();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it(`${DRILL_UPLOADS} uploads: 503 + Retry-After while S3 is down, then all complete after its restart, none lost`, { timeout: 120_000 }, async () => {
    const token = await api.signUp('s3.outage@example.com');
    const chestId = await api.createChest(token);
    const before = await api.upload(token, chestId, await jpeg(70, 50), 'before.jpg', 'image/jpeg');
    const files = await Promise.all(Array.from({ length: DRILL_UPLOADS }, (_, i) => jpeg(60 + i, 40 + (i % 7), '#47a')));
    const tickets = await Promise.all(
      files.map(async (bytes, i) => {
        const t = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { chestId, filename: `s3-${i}.jpg`, size: bytes.length, mimeType: 'image/jpeg' } }, token);
        return { url: new URL(t.createUpload.url, server.app.url()).toString(), headers: Object.fromEntries(t.createUpload.headers.map((h: { name: string; value: string }) => [h.name, h.value])) as Record<string, string>, bytes };
      }),
    );

    await s3.close();
    const during = await Promise.all(tickets.map((t) => fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': '0' }, body: t.bytes })));
    expect(during.map((r) => [r.status, r.headers.get('retry-after')])).toEqual(tickets.map(() => [503, '5']));
    expect(((await during[0]!.json()) as any).errors[0].extensions).toEqual({ code: 'SERVICE_UNAVAILABLE', retryAfter: 5 });
    await startS3(port);

    // What a client does after a 503: ask HEAD where to resume, send the rest.
    const assetIds = await Promise.all(
      tickets.map(async (t) => {
        const head = await fetch(t.url, { method: 'HEAD', headers: t.headers });
        expect(head.status).toBe(200);
        const offset = Number(head.headers.get('upload-offset'));
        const res = await fetch(t.url, { method: 'PATCH', headers: { ...t.headers, 'Upload-Offset': String(offset) }, body: t.bytes.subarray(offset) });
        expect(res.status).toBe(200);
        return ((await res.json()) as { assetId: string }).assetId;
      }),
    );
    const em = server.db.orm.em.fork();
    const assets = await em.find(Asset, { chest: chestId }, { orderBy: { filename: 'asc' } });
    expect(assets.map((a) => a.id).sort()).toEqual([before, ...assetIds].sort());
    for (const [i, id] of assetIds.entries()) {
      const asset = assets.find((a) => a.id === id)!;
      expect(asset.sha256).toBe(createHash('sha256').update(files[i]!).digest('hex'));
      expect((await server.app.storage.stat(asset.storageKey))?.size).toBe(files[i]!.length);
    }
    console.info(`[outage drill] s3 restart: uploads=${DRILL_UPLOADS} answered503=${during.filter((r) => r.status === 503).length} completed=${assetIds.length} lost=${DRILL_UPLOADS - assetIds.length}`);
  });
});

const PROCESSING = `subscription($c: ID!) { assetProcessing(chestId: $c) { seq stage } }`;

/**
 * A websocket cut (TCP proxy in front of the app) while 10 events happen: the subscription cannot
 * get them, and the client catches up with chestEvents(since: the last seq it saw), then goes on live.
 */
describe('websocket cut while events happen: catch-up with chestEvents', () => {
  let server: TestServer;
  let proxy: TcpProxy;
  let api: ReturnType<typeof apiClient>;
  beforeAll(async () => {
    server = await startTestServer();
    proxy = await startTcpProxy({ host: '127.0.0.1', port: Number(new URL(server.app.url()).port) });
    api = apiClient(`http://127.0.0.1:${proxy.port}`);
  }, 120_000);
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it('misses nothing: the 10 events of the cut come back in order from chestEvents', { timeout: 60_000 }, async () => {
    const em = server.db.orm.em.fork();
    const owner = await makeAccount(em);
    const chest = em.create(Chest, { personName: 'Ada Ellis' });
    await em.flush();
    await addMember(em, chest, owner.account, ChestRole.OWNER);
    const asset = await makeAsset(em, chest);
    const emit = (stage: string) =>
      emitChestEvent(server.db.orm.em.fork(), server.app.services.events, { chestId: chest.id, kind: ChestEventKind.ASSET_PROCESSING, assetId: asset.id, data: { stage, percent: 50, status: ProcessingStatus.PROCESSING, error: null } });

    const first = api.ws(owner.token);
    const seen = api.collect(first, PROCESSING, { c: chest.id }, () => false);
    await api.settled(first);
    await emit('before');
    await expect.poll(() => seen.results.length).toBe(1);
    const lastSeq = (seen.results[0] as GqlResponse).data.assetProcessing.seq as number;

    proxy.cut();
    await seen.done.catch(() => undefined);
    for (let i = 0; i < 10; i++) await emit(`missed-${i}`);
    proxy.restore();
    await first.dispose();

    const again = api.ws(owner.token);
    const live = api.collect(again, PROCESSING, { c: chest.id }, (all) => all.length === 1);
    await api.settled(again);
    const d = await api.must(`query($c: ID!, $s: SafeInt!) { chestEvents(chestId: $c, since: $s) { lastSeq hasMore events { seq processing { stage } } } }`, { c: chest.id, s: lastSeq }, owner.token);
    expect(seen.results).toHaveLength(1);
    expect(d.chestEvents.events.map((e: any) => e.processing.stage)).toEqual(Array.from({ length: 10 }, (_, i) => `missed-${i}`));
    expect(d.chestEvents.events.map((e: any) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => lastSeq + 1 + i));
    expect(d.chestEvents.hasMore).toBe(false);
    await emit('after');
    expect((await live.done).map((r) => r.data.assetProcessing)).toEqual([{ seq: lastSeq + 11, stage: 'after' }]);
    await again.dispose();
  });
});
