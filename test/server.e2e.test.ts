import type { HttpApp } from '../src/server.js';
import type { TestDatabase } from './support/db.js';
import { startTestServer, type TestServer } from './support/server.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { makeAccount, makeChest } from './support/factories.js';

describe('the API server: session tokens over HTTP and websockets', () => {
  let server: TestServer;
  let db: TestDatabase;
  let app: HttpApp;
  let token: string;
  let chestId: string;
  const clients: Client[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    ({ db, app } = server);
    const em = db.orm.em.fork();
    const person = await makeAccount(em);
    token = person.token;
    chestId = (await makeChest(em, { personName: 'Over websockets' }, person.account)).id;
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.dispose()));
    await server?.stop();
  });

  /** A client that reports how its socket closed instead of retrying. */
  function connect(connectionParams: Record<string, unknown>) {
    const closed: { code?: number } = {};
    const client = createClient({
      url: app.url().replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams,
      retryAttempts: 0,
      lazy: false,
      onNonLazyError: () => undefined, // the close code is asserted instead
      on: { closed: (e) => (closed.code = (e as { code: number }).code) },
    });
    clients.push(client);
    return { client, closed };
  }

  function once(client: Client, query: string, variables?: Record<string, unknown>) {
    return new Promise<{ data?: any; errors?: any[] }>((resolve, reject) => {
      let result: { data?: any; errors?: any[] } = {};
      client.subscribe({ query, variables }, { next: (r) => (result = r as never), error: reject, complete: () => resolve(result) });
    });
  }

  async function post(body: unknown, headers: Record<string, string> = {}) {
    const res = await fetch(`${app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as { data?: any; errors?: any[] } };
  }

  it('answers a bad bearer token over HTTP with 401 and UNAUTHENTICATED, and a good one with the viewer', async () => {
    for (const authorization of ['Bearer ' + 'y'.repeat(43), 'Basic abc', 'Bearer']) {
      const res = await post({ query: '{ viewer { id } }' }, { authorization });
      expect(res.status).toBe(401);
      expect(res.body.errors).toEqual([{ message: 'Session is invalid or has expired; sign in again', extensions: { code: 'UNAUTHENTICATED' } }]);
    }
    const ok = await post({ query: '{ viewer { id } }' }, { authorization: `Bearer ${token}` });
    expect(ok.status).toBe(200);
    expect(ok.body.data.viewer.id).toEqual(expect.any(String));
  });

  it('lets a share link holder read by id with the X-Share-Token header, and nothing once revoked', async () => {
    const link = await post({ query: `mutation($c: ID!) { createShareLink(chestId: $c) { token } }`, variables: { c: chestId } }, { authorization: `Bearer ${token}` });
    const shareToken = link.body.data.createShareLink.token as string;
    const q = { query: `query($c: ID!) { chest(id: $c) { personName myRole } }`, variables: { c: chestId } };
    expect((await post(q, { 'x-share-token': shareToken })).body.data.chest).toEqual({ personName: 'Over websockets', myRole: null });
    expect((await post(q)).body.errors?.[0].extensions.code).toBe('NOT_FOUND');
    await post({ query: `mutation($c: ID!) { revokeShareLink(chestId: $c) { id } }`, variables: { c: chestId } }, { authorization: `Bearer ${token}` });
    expect((await post(q, { 'x-share-token': shareToken })).body.errors?.[0].extensions.code).toBe('NOT_FOUND');
  });

  it('authenticates the connection with the session token from connectionParams', async () => {
    const { client } = connect({ authorization: `Bearer ${token}` });
    const res = await once(client, `query($id: ID!) { viewer { id } chest(id: $id) { personName myRole } }`, { id: chestId });
    expect(res.errors).toBeUndefined();
    expect(res.data.chest).toEqual({ personName: 'Over websockets', myRole: 'OWNER' });
  });

  it('refuses a connection whose token is invalid (close 4403)', async () => {
    const { client, closed } = connect({ authorization: 'Bearer ' + 'x'.repeat(43) });
    await expect(once(client, '{ viewer { id } }')).rejects.toBeDefined();
    expect(closed.code).toBe(4403);
  });

  it('treats a connection without a token as anonymous: private chests are NOT_FOUND, errors are coded', async () => {
    const { client } = connect({});
    const res = await once(client, `query($id: ID!) { chest(id: $id) { id } }`, { id: chestId });
    expect(res.errors?.[0]?.extensions).toEqual({ code: 'NOT_FOUND' });
    expect(JSON.stringify(res)).not.toMatch(/stack|at .*\.ts/);
  });
});
