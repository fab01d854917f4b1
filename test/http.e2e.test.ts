import type { HttpApp } from '../src/server.js';
import type { TestDatabase } from './support/db.js';
import { startTestServer, type TestServer } from './support/server.js';
import { startStorageEnv } from './support/storage.js';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The served mode end to end: a real HTTP server on loopback, a real Postgres database migrated
 * by openDatabase, and nothing but `fetch` on the client side.
 */
describe('the API over real HTTP (served mode)', () => {
  let server: TestServer;
  let db: TestDatabase;
  let app: HttpApp;
  let token: string;
  /** Every response body this file has read, for the "no stack traces, ever" check at the end. */
  const bodies: string[] = [];

  beforeAll(async () => {
    server = await startTestServer();
    ({ db, app } = server);
    const up = await gql(`mutation { signUp(input: { email: "http-e2e@example.test", password: "a long enough password", displayName: "HTTP" }) { email } }`);
    expect(up.body.errors).toBeUndefined();
    const session = await gql<{ signIn: { token: string } }>(`mutation { signIn(email: "http-e2e@example.test", password: "a long enough password") { token } }`);
    token = session.body.data!.signIn.token;
  });
  afterAll(async () => {
    await server?.stop();
  });

  async function request(path: string, init: RequestInit = {}) {
    const res = await fetch(`${app.url()}${path}`, init);
    const text = await res.text();
    bodies.push(text);
    return { res, text };
  }

  async function gql<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, auth: string | null = token) {
    const { res, text } = await request('/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth && { authorization: `Bearer ${auth}` }) },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: res.status,
      body: JSON.parse(text) as { data?: T | null; errors?: { message: string; extensions?: Record<string, unknown> }[] },
    };
  }

  it('GET /healthz answers 200 {status: ok}', async () => {
    const { res, text } = await request('/healthz');
    expect(res.status).toBe(200);
    expect(JSON.parse(text)).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 with database: true', async () => {
    const { res, text } = await request('/readyz');
    expect(res.status).toBe(200);
    expect(JSON.parse(text)).toMatchObject({ database: true, storage: true });
  });

  it('creates a chest and reads it back by id and through a share link', async () => {
    const made = await gql<{ createChest: { id: string; personName: string; birthDate: string; passingDate: string; createdAt: string } }>(
      `mutation($input: CreateChestInput!) { createChest(input: $input) { id personName birthDate passingDate createdAt } }`,
      { input: { personName: '  Grace Hopper \n', birthDate: '1906-12-09', passingDate: '1992-01-01' } },
    );
    expect(made.status).toBe(200);
    expect(made.body.errors).toBeUndefined();
    const chest = made.body.data!.createChest;
    expect(chest).toMatchObject({ personName: 'Grace Hopper', birthDate: '1906-12-09', passingDate: '1992-01-01' });
    expect(new Date(chest.createdAt).toISOString()).toBe(chest.createdAt);

    const byId = await gql(`query($id: ID!) { chest(id: $id) { id personName birthDate passingDate createdAt myRole } }`, { id: chest.id });
    expect(byId.body.errors).toBeUndefined();
    expect(byId.body.data!.chest).toEqual({ ...chest, myRole: 'OWNER' });

    const link = await gql<{ createShareLink: { token: string } }>(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chest.id });
    expect(link.body.errors).toBeUndefined();
    const shareToken = link.body.data!.createShareLink.token;
    expect(shareToken).toEqual(expect.any(String));

    // No account: the share token alone opens the chest.
    const shared = await gql(`query($t: String!) { chestByShareToken(token: $t) { id personName birthDate passingDate } }`, { t: shareToken }, null);
    expect(shared.body.errors).toBeUndefined();
    expect(shared.body.data!.chestByShareToken).toEqual({ id: chest.id, personName: 'Grace Hopper', birthDate: '1906-12-09', passingDate: '1992-01-01' });
  });

  it('marks every GraphQL answer Cache-Control: no-store (it is for one viewer), POST and GET, data and errors', async () => {
    const answers = [
      await request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) }),
      await request('/graphql?query=%7B__typename%7D', { headers: { 'apollo-require-preflight': 'true' } }),
      await request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: '{ nope }' }) }),
    ];
    expect(answers.map(({ res }) => res.status)).toEqual([200, 200, 400]);
    for (const { res } of answers) expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('echoes a valid X-Request-Id and replaces an invalid one with a generated id', async () => {
    const given = await request('/healthz', { headers: { 'x-request-id': 'req_42.abc-DEF' } });
    expect(given.res.headers.get('x-request-id')).toBe('req_42.abc-DEF');

    for (const bad of ['has spaces in it', 'x'.repeat(100), 'semi;colon']) {
      const { res } = await request('/healthz', { headers: { 'x-request-id': bad } });
      const id = res.headers.get('x-request-id');
      expect(id).not.toBe(bad);
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    }

    const none = await request('/healthz');
    expect(none.res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers a malformed JSON body with 400 BAD_REQUEST and no stack', async () => {
    const { res, text } = await request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"query": "{ viewer { id } ' });
    expect(res.status).toBe(400);
    const body = JSON.parse(text) as { errors: { extensions: { code: string } }[] };
    expect(body.errors[0]!.extensions.code).toBe('BAD_REQUEST');
    // Not a stack frame ("    at fn (file.js:1:2)"), raw or JSON-escaped, nor a source location.
    expect(text).not.toMatch(/(^|\n|\\n)\s*at \S/);
    expect(text).not.toMatch(/\.[cm]?[jt]s:\d+:\d+/);
    expect(text).not.toMatch(/stack/i);
    expect(text).not.toContain('node_modules');
  });

  it('rejects a 201-character personName with BAD_USER_INPUT naming the field', async () => {
    const res = await gql(`mutation($input: CreateChestInput!) { createChest(input: $input) { id } }`, { input: { personName: 'x'.repeat(201) } });
    expect(res.body.data ?? null).toBeNull();
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'personName' });

    // 200 is the limit, counted after trimming.
    const fits = await gql(`mutation($input: CreateChestInput!) { createChest(input: $input) { personName } }`, {
      input: { personName: ` ${'y'.repeat(200)} ` },
    });
    expect(fits.body.errors).toBeUndefined();
    expect(fits.body.data!.createChest.personName).toHaveLength(200);
  });

  it('answers an unknown chest id with NOT_FOUND', async () => {
    for (const id of [randomUUID(), 'not-a-uuid']) {
      const res = await gql(`query($id: ID!) { chest(id: $id) { id } }`, { id });
      expect(res.body.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    }
  });

  it('serves the offline explorer page with a CSP, and all six of its assets', async () => {
    const page = await request('/graphql', { headers: { accept: 'text/html' } });
    expect(page.res.status).toBe(200);
    expect(page.res.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.res.headers.get('content-security-policy')).toBeTruthy();
    expect(page.text).toContain('/graphiql/graphiql.js');

    for (const asset of ['react.js', 'react-dom.js', 'graphiql.js', 'graphiql.css', 'graphql-ws.js', 'init.js']) {
      expect(page.text).toContain(`/graphiql/${asset}`);
      const res = await fetch(`${app.url()}/graphiql/${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.headers.get('content-type'), asset).toMatch(asset.endsWith('.css') ? /text\/css/ : /javascript/);
      expect((await res.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
  });

  it('never puts a stack trace in a response body', async () => {
    // A few more failures of different kinds, on top of everything the tests above read.
    await gql('{ chest(id: ');
    await gql('{ noSuchField }');
    await gql('query($id: ID!) { chest(id: $id) { id } }', {});
    await gql('{ viewer { id } }', undefined, 'y'.repeat(43));
    await request('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' }, body: 'x'.repeat(2 * 1024 * 1024) });
    await request('/no/such/route');
    expect(bodies.length).toBeGreaterThan(10);
    for (const body of bodies) expect(body.toLowerCase()).not.toContain('stacktrace');
  });
});

describe('readiness follows the object store', () => {
  it('answers 503 with storage: false once S3 stops answering', { timeout: 60_000 }, async () => {
    const s3 = await startStorageEnv('s3');
    const server = await startTestServer(s3.env);
    try {
      const ready = await fetch(`${server.app.url()}/readyz`);
      expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready', database: true, storage: true }]);
      await s3.stop();
      const down = await fetch(`${server.app.url()}/readyz`);
      expect([down.status, await down.json()]).toEqual([503, { status: 'unavailable', database: true, storage: false }]);
    } finally {
      await server.stop();
    }
  });
});
