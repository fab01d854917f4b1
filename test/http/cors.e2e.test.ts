import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { startTestServer, type TestServer } from '../support/server.js';

const FAMILY_SITE = 'https://family.example';

/** A preflight as a browser sends it before a tus PATCH with the ticket secret. */
const preflight = (url: string, origin: string) =>
  fetch(url, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'PATCH', 'Access-Control-Request-Headers': 'authorization,content-type,tus-resumable,upload-offset' },
  });

describe('CORS for the origins in CORS_ORIGINS', () => {
  let server: TestServer;
  let base: string;
  beforeAll(async () => {
    server = await startTestServer({ CORS_ORIGINS: `${FAMILY_SITE}, http://localhost:5173` });
    base = server.app.url();
  });
  afterAll(async () => server?.stop());

  it('answers a listed origin\'s preflight itself, with the tus and GraphQL request headers allowed', async () => {
    const res = await preflight(`${base}/uploads/00000000-0000-4000-8000-000000000000`, FAMILY_SITE);
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe(FAMILY_SITE);
    expect(res.headers.get('access-control-allow-methods')?.split(', ')).toEqual(expect.arrayContaining(['POST', 'HEAD', 'PATCH', 'DELETE']));
    const allowed = res.headers.get('access-control-allow-headers')!.toLowerCase().split(', ');
    expect(allowed).toEqual(expect.arrayContaining(['authorization', 'content-type', 'tus-resumable', 'upload-offset', 'upload-checksum', 'x-share-token']));
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('vary')).toMatch(/origin/i);
    // A preflight is not the tus discovery request: no tus headers on it.
    expect(res.headers.get('tus-version')).toBeNull();
  });

  it('lets a listed origin read the answer and the headers a tus client resumes from', async () => {
    const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { Origin: 'http://localhost:5173', 'Content-Type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const exposed = res.headers.get('access-control-expose-headers')!.split(', ');
    expect(exposed).toEqual(expect.arrayContaining(['Upload-Offset', 'Upload-Length', 'Tus-Resumable', 'Upload-Status', 'Upload-Asset-Id', 'Retry-After', 'X-Request-Id']));
  });

  it('gives an unlisted origin no CORS header at all, so its page cannot read the answer', async () => {
    for (const origin of ['https://evil.example', 'https://family.example.evil.example', 'http://family.example', 'null']) {
      const pre = await preflight(`${base}/uploads`, origin);
      expect(pre.headers.get('access-control-allow-origin')).toBeNull();
      expect(pre.headers.get('access-control-allow-headers')).toBeNull();
      const res = await fetch(`${base}/graphql`, { method: 'POST', headers: { Origin: origin, 'Content-Type': 'application/json' }, body: JSON.stringify({ query: '{ __typename }' }) });
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('vary')).toMatch(/origin/i);
    }
  });

  it('leaves the tus OPTIONS discovery request (no Access-Control-Request-Method) to the tus route', async () => {
    const res = await fetch(`${base}/uploads`, { method: 'OPTIONS', headers: { Origin: FAMILY_SITE } });
    expect(res.status).toBe(204);
    expect(res.headers.get('tus-version')).toBe('1.0.0');
    expect(res.headers.get('access-control-allow-origin')).toBe(FAMILY_SITE);
  });
});

describe('CORS off (the default)', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(async () => server?.stop());

  it('sends no CORS header to any origin', async () => {
    const res = await preflight(`${server.app.url()}/uploads`, FAMILY_SITE);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    expect(res.headers.get('vary')).toBeNull();
  });
});

describe('CORS_ORIGINS', () => {
  it('takes exact origins and refuses a wildcard, a path or another scheme, naming the variable', () => {
    expect(loadConfig({ CORS_ORIGINS: ' https://a.example ,http://127.0.0.1:8080' }).corsOrigins).toEqual(['https://a.example', 'http://127.0.0.1:8080']);
    expect(loadConfig({}).corsOrigins).toEqual([]);
    for (const bad of ['*', 'https://a.example/app', 'a.example', 'ftp://a.example', 'https://a.example/']) {
      const attempt = () => loadConfig({ CORS_ORIGINS: bad });
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(/CORS_ORIGINS/);
    }
  });
});
