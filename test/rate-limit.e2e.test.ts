import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newToken } from '../src/domain/tokens.js';
import { makeAccount, makeChest } from './support/factories.js';
import { startTestServer, type TestServer } from './support/server.js';

/**
 * Rate limits over the wire: status 429 and Retry-After on GraphQL and on the upload routes, and
 * close code 4429 on websockets. Each test uses its own X-Forwarded-For address (TRUST_PROXY_HOPS=1,
 * as behind the compose front door), so their counters never meet.
 */
describe('rate limits over HTTP and websockets', () => {
  let server: TestServer;
  let shareToken: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    server = await startTestServer({ TOKEN_FAILURES_PER_CLIENT: '2', SIGNIN_FREE_FAILURES: '1', SIGNIN_FAILURES_PER_CLIENT: '100', TRUST_PROXY_HOPS: '1' });
    const link = newToken();
    shareToken = link.token;
    const em = server.db.orm.em.fork();
    await makeChest(em, { personName: 'Behind a link', shareTokenHash: link.hash }, (await makeAccount(em)).account);
  }, 60_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await server?.stop();
  });

  async function post(query: string, from: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${server.app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': from, ...headers },
      body: JSON.stringify({ query }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), body: (await res.json()) as { data?: any; errors?: any[] } };
  }

  it('GraphQL: 429 with Retry-After and extensions.retryAfter, for arguments and for the X-Share-Token header', async () => {
    const from = '203.0.113.1';
    const byToken = (t: string) => post(`{ chestByShareToken(token: "${t}") { personName } }`, from);
    for (let i = 0; i < 2; i++) expect((await byToken(newToken().token)).body.errors?.[0].extensions.code).toBe('NOT_FOUND');
    const refused = await byToken(shareToken);
    expect(refused.status).toBe(429);
    expect(Number(refused.retryAfter)).toBeGreaterThan(0);
    expect(refused.body.errors?.[0].extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: Number(refused.retryAfter) });
    const header = await post(`{ __typename }`, from, { 'x-share-token': shareToken });
    expect(header.status).toBe(429);
    expect(header.retryAfter).toBe(refused.retryAfter);
    expect(header.body.errors?.[0].extensions.code).toBe('RATE_LIMITED');
    // Someone else, with the right token, is unaffected.
    expect((await post(`{ chestByShareToken(token: "${shareToken}") { personName } }`, '198.51.100.1')).body.data.chestByShareToken.personName).toBe('Behind a link');
  });

  it('signIn: a second failure for the account waits, with 429 and Retry-After', async () => {
    const attempt = () => post(`mutation { signIn(email: "someone@example.test", password: "wrong password") { token } }`, '203.0.113.2');
    expect((await attempt()).body.errors?.[0].extensions.code).toBe('UNAUTHENTICATED');
    const waited = await attempt();
    expect(waited.status).toBe(429);
    expect(waited.retryAfter).toBe('1');
    expect(waited.body.errors?.[0].extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 1 });
  });

  it('upload routes: wrong secrets count; past the limit HEAD and PATCH answer 429 with Retry-After', async () => {
    const url = `${server.app.url()}/uploads/00000000-0000-4000-8000-000000000000`;
    const headers = (t: string) => ({ authorization: `Upload ${t}`, 'x-forwarded-for': '203.0.113.3', 'upload-offset': '0', 'content-type': 'application/offset+octet-stream' });
    expect((await fetch(url, { method: 'HEAD', headers: headers(newToken().token) })).status).toBe(404);
    expect((await fetch(url, { method: 'PATCH', headers: headers(newToken().token), body: 'x' })).status).toBe(404);
    const head = await fetch(url, { method: 'HEAD', headers: headers(newToken().token) });
    expect(head.status).toBe(429);
    expect(Number(head.headers.get('retry-after'))).toBeGreaterThan(0);
    const patch = await fetch(url, { method: 'PATCH', headers: headers(newToken().token), body: 'x' });
    expect(patch.status).toBe(429);
    expect(patch.headers.get('retry-after')).toBe(head.headers.get('retry-after'));
    expect(((await patch.json()) as any).errors[0].extensions.code).toBe('RATE_LIMITED');
  });

  it('websockets: a connection with a share token from a client past its limit is closed with 4429', async () => {
    // Two wrong header tokens from this address use up its allowance.
    for (let i = 0; i < 2; i++) await post(`{ __typename }`, '203.0.113.4', { 'x-share-token': newToken().token });
    const closed: { code?: number; reason?: string } = {};
    const client = createClient({
      url: server.app.url().replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: class extends WebSocket {
        constructor(address: string, protocols?: string | string[]) {
          super(address, protocols, { headers: { 'x-forwarded-for': '203.0.113.4' } });
        }
      },
      connectionParams: { shareToken },
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined,
      on: { closed: (e) => Object.assign(closed, { code: (e as CloseEvent).code, reason: String((e as CloseEvent).reason) }) },
    });
    clients.push(client);
    await expect(
      new Promise((resolve, reject) => client.subscribe({ query: '{ __typename }' }, { next: resolve, error: reject, complete: () => undefined })),
    ).rejects.toBeDefined();
    expect(closed.code).toBe(4429);
    expect(closed.reason).toMatch(/^RATE_LIMITED: try again in \d+ seconds$/);
  });
});
