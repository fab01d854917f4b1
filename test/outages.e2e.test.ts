import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { ADMIN_URL } from './support/db.js';
import { apiClient } from './support/client.js';
import { jpeg } from './support/media.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startTcpProxy, type TcpProxy } from './support/tcp-proxy.js';

/**
 * Outage drills on the served mode (README "Outages", RELIABILITY.md): the app reaches PostgreSQL
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
