import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset, Upload } from '../../src/db/entities/index.js';
import { ErrorCode } from '../../src/domain/errors.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { apiClient, eventually } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * The plain-HTTP routes fuzzed (issue 11 point 5, beside the schema fuzzer): `HEAD`/`PATCH
 * /uploads/:id` and `GET /files/...`, with every method, ids real and forged, tickets right, wrong
 * and malformed, offsets and ranges in and out of bounds, bodies of random bytes and real photos,
 * from many client addresses. Invariants: no 5xx (no outage is staged), every error body is the
 * catalogue's shape with a catalogued code and no internal message, no error logged, no file
 * served without an untouched signed link; afterwards the server answers, every upload row is
 * consistent, every memory's original is in storage and has the SHA-256 on its row, and a real
 * upload still completes.
 *
 * CI runs ROUTE_FUZZ_RUNS=300; the full run is `ROUTE_FUZZ_RUNS=5000 npx vitest run
 * test/fuzz/routes.fuzz.test.ts` (RELIABILITY.md). ROUTE_FUZZ_SEED replays a failure.
 */
const RUNS = Number(process.env.ROUTE_FUZZ_RUNS ?? 300);
const SEED = process.env.ROUTE_FUZZ_SEED ? Number(process.env.ROUTE_FUZZ_SEED) : (Date.now() ^ (process.pid << 8)) | 0;

/** The catalogue, and BAD_REQUEST for a request HTTP itself cannot take (docs/errors.md "The catalogue"). */
const CODES = new Set<string>([...Object.values(ErrorCode).filter((c) => c !== ErrorCode.INTERNAL_SERVER_ERROR), 'BAD_REQUEST']);
const UNMASKED = /\bselect\b[\s\S]*\bfrom\b|\binsert into\b|\bviolates\b|node_modules|\n\s+at |\.[cm]?[jt]s:\d+|cannot read propert|is not a function|TypeError|RangeError|MikroORM|ENOENT|EACCES/i;

interface Target {
  kind: 'upload' | 'original' | 'derivative' | 'other';
  path: string;
  /** For a real ticket's URL: its own Authorization, which '@ticket' in the headers stands for. */
  authorization?: string;
  /** A /files link exactly as the API signed it. */
  signed: boolean;
}

interface BodySpec {
  kind: 'none' | 'random' | 'fill' | 'photo' | 'truncated photo';
  n: number;
}

interface Request {
  method: string;
  target: Target;
  headers: Record<string, string>;
  body: BodySpec;
  address: string;
}

describe('HTTP route fuzzing', () => {
  let server: TestServer;
  const logged: string[] = [];
  let base: string;
  let tickets: { path: string; authorization: string; size: number }[] = [];
  let links: { original: string; derivatives: string[] };
  let photo: Buffer;

  beforeAll(async () => {
    // Every error-level line the app logs is a finding.
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        const line = JSON.parse(chunk.toString()) as { level: number; msg?: string };
        if (line.level >= 50) logged.push(String(line.msg));
        done();
      },
    });
    server = await startTestServer({ TRUST_PROXY_HOPS: '1' }, { worker: true, log: pino({ level: 'warn' }, sink) });
    base = server.app.url();
    const api = apiClient(base);
    const owner = await api.signUp('owner@routes.test');
    const chestId = await api.createChest(owner);
    photo = await jpeg(320, 240, '#a63');
    const assetId = await api.upload(owner, chestId, photo, 'garden.jpg', 'image/jpeg');
    const asset = await eventually(async () => {
      const d = await api.must(`query($id: ID!) { asset(id: $id) { status originalUrl thumbnails { url } } }`, { id: assetId }, owner);
      return d.asset.status === 'COMPLETE' ? d.asset : undefined;
    });
    links = { original: asset.originalUrl, derivatives: asset.thumbnails.map((t: { url: string }) => t.url) };
    // Open tickets of several sizes, so fuzzed PATCHes can also finish one.
    for (const size of [1, 4096, photo.length]) {
      const d = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { chestId, filename: `t${size}.jpg`, size, mimeType: 'image/jpeg' } }, owner);
      const authorization = (d.createUpload.headers as { name: string; value: string }[]).find((h) => h.name.toLowerCase() === 'authorization')!.value;
      tickets.push({ path: d.createUpload.url, authorization, size });
    }
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
  });

  const bodyOf = (spec: BodySpec): Uint8Array | null => {
    if (spec.kind === 'none') return null;
    if (spec.kind === 'random') return new Uint8Array(Buffer.from(Array.from({ length: spec.n }, (_, i) => (i * 2654435761 + spec.n) >>> 24)));
    if (spec.kind === 'fill') return new Uint8Array(spec.n).fill(0x41);
    if (spec.kind === 'photo') return new Uint8Array(photo);
    return new Uint8Array(photo.subarray(0, spec.n % (photo.length + 1)));
  };

  const arbitraries = () => {
    const uuid = fc.uuid();
    const ticket = fc.constantFrom(...tickets);
    const pathOf = (url: string) => new URL(url, base);
    const tamper = (url: string) =>
      fc.constantFrom('sig', 'exp', 'drop-sig', 'path', 'past', 'huge-exp').map((how) => {
        const u = pathOf(url);
        if (how === 'sig') u.searchParams.set('sig', `${u.searchParams.get('sig') ?? ''}x`.slice(1));
        if (how === 'exp') u.searchParams.set('exp', String(Number(u.searchParams.get('exp') ?? 0) + 1));
        if (how === 'drop-sig') u.searchParams.delete('sig');
        if (how === 'path') u.pathname = u.pathname.replace(/[0-9a-f](?=[^/]*$)/, (c) => (c === '0' ? '1' : '0'));
        if (how === 'past') u.searchParams.set('exp', '1');
        if (how === 'huge-exp') u.searchParams.set('exp', '9'.repeat(40));
        return u.pathname + u.search;
      });
    const target: fc.Arbitrary<Target> = fc.oneof(
      { weight: 3, arbitrary: ticket.map((t) => ({ kind: 'upload' as const, path: t.path, signed: false, authorization: t.authorization })) },
      uuid.map((id) => ({ kind: 'upload' as const, path: `/uploads/${id}`, signed: false })),
      fc.constantFrom('/uploads/not-a-uuid', '/uploads/..%2F..%2Fetc%2Fpasswd', `/uploads/${'a'.repeat(3000)}`, '/uploads/', '/uploads/%00').map((path) => ({ kind: 'upload' as const, path, signed: false })),
      fc.constant(null).map(() => ({ kind: 'original' as const, path: pathOf(links.original).pathname + pathOf(links.original).search, signed: true })),
      fc.constantFrom(...links.derivatives).map((url) => ({ kind: 'derivative' as const, path: pathOf(url).pathname + pathOf(url).search, signed: true })),
      tamper(links.original).map((path) => ({ kind: 'original' as const, path, signed: false })),
      fc.constantFrom(...links.derivatives).chain(tamper).map((path) => ({ kind: 'derivative' as const, path, signed: false })),
      fc.tuple(uuid, fc.constantFrom('256', '1024', '..', 'x'.repeat(41), 'POSTER', 'text', '%2e%2e')).map(([id, name]) => ({ kind: 'derivative' as const, path: `/files/${id}/${name}?exp=1&sig=a`, signed: false })),
      fc.constantFrom('/files/', '/files/..%2Fsecret.key', '/uploads', '/files/%ff%fe').map((path) => ({ kind: 'other' as const, path, signed: false })),
    );
    const authorization = fc.oneof(
      { weight: 4, arbitrary: fc.constant('@ticket') },
      ticket.map((t) => t.authorization),
      fc.constantFrom('', 'Upload', 'Upload ', 'Bearer abc', 'Upload wrong-token', 'upload   x', `Upload ${'z'.repeat(5000)}`),
      fc.string({ maxLength: 200 }).map((s) => s.replace(/[^\x20-\x7e]/g, '')),
    );
    const offset = fc.oneof(
      { weight: 4, arbitrary: fc.constant('@current') },
      fc.constantFrom('0', '1', '-1', '', 'abc', '1e3', '0x10', '9'.repeat(30), ' 5', '4096', String(2 ** 53)),
      fc.nat(200_000).map(String),
    );
    const range = fc.constantFrom('bytes=0-0', 'bytes=0-', 'bytes=-5', 'bytes=5-1', 'bytes=999999999-', 'bytes=0-1,4-5', 'items=0-1', 'garbage', `bytes=0-${'9'.repeat(25)}`);
    const headers = fc.record(
      {
        authorization,
        'upload-offset': offset,
        'content-type': fc.constantFrom('application/offset+octet-stream', 'application/json', 'text/plain', 'multipart/form-data; boundary=x', ''),
        range,
        'tus-resumable': fc.constantFrom('1.0.0', '0.2'),
      },
      { requiredKeys: [] },
    );
    // A description, built into bytes per request: counterexamples stay readable.
    const body = fc.oneof(
      { weight: 2, arbitrary: fc.constant({ kind: 'none' as const, n: 0 }) },
      { weight: 3, arbitrary: fc.nat(4096).map((n) => ({ kind: 'random' as const, n })) },
      { weight: 1, arbitrary: fc.nat(300_000).map((n) => ({ kind: 'fill' as const, n })) },
      { weight: 2, arbitrary: fc.constant({ kind: 'photo' as const, n: 0 }) },
      { weight: 1, arbitrary: fc.nat(1_000_000).map((n) => ({ kind: 'truncated photo' as const, n })) },
    );
    const method = fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('GET', 'HEAD', 'PATCH') },
      { weight: 1, arbitrary: fc.constantFrom('POST', 'PUT', 'DELETE', 'OPTIONS') },
    );
    const address = fc.tuple(fc.nat(255), fc.nat(255)).map(([a, b]) => `10.7.${a}.${b}`);
    return fc.record<Request>({ method, target, headers, body, address });
  };

  it(`answers ${RUNS} fuzzed requests without a 5xx, an unmasked error or a file behind a broken link`, { timeout: 120_000 + RUNS * 400 }, async () => {
    const byStatus: Record<string, number> = {};
    const byCode: Record<string, number> = {};
    let served = 0;
    const property = fc.asyncProperty(arbitraries(), async (r) => {
      const bytes = bodyOf(r.body);
      // '@ticket': the target ticket's own secret; '@current': the offset its HEAD gives now.
      const headers = { ...r.headers };
      if (headers.authorization === '@ticket') headers.authorization = r.target.authorization ?? 'Upload none';
      if (headers['upload-offset'] === '@current') {
        const head = await fetch(`${base}${r.target.path}`, { method: 'HEAD', headers: { authorization: headers.authorization, 'x-forwarded-for': r.address } });
        headers['upload-offset'] = head.headers.get('upload-offset') ?? '0';
      }
      const withBody = bytes !== null && r.method !== 'GET' && r.method !== 'HEAD';
      const res = await fetch(`${base}${r.target.path}`, {
        method: r.method,
        headers: { ...headers, 'x-forwarded-for': r.address },
        body: withBody ? bytes : undefined,
        signal: AbortSignal.timeout(60_000),
      });
      const answered = Buffer.from(await res.arrayBuffer());
      byStatus[res.status] = (byStatus[res.status] ?? 0) + 1;
      const problems: string[] = [];
      if (res.status >= 500) problems.push(`HTTP ${res.status}`);
      const type = res.headers.get('content-type') ?? '';
      // Every error that has a body answers in the catalogue's shape (HEAD answers have none).
      if (res.status >= 400 && r.method !== 'HEAD' && !type.includes('json')) problems.push(`HTTP ${res.status} answered as ${type || 'no type'}`);
      if (res.status >= 400 && type.includes('json') && answered.length) {
        const answer = JSON.parse(answered.toString('utf8')) as { errors?: { message: string; extensions?: { code?: string } }[] };
        for (const e of answer.errors ?? []) {
          const code = String(e.extensions?.code);
          byCode[code] = (byCode[code] ?? 0) + 1;
          if (!CODES.has(code)) problems.push(`code ${code}: ${e.message}`);
          if (UNMASKED.test(e.message)) problems.push(`unmasked: ${e.message.slice(0, 200)}`);
        }
        if (!answer.errors?.length) problems.push(`error body without errors: ${answered.toString('utf8').slice(0, 200)}`);
      }
      if (UNMASKED.test(answered.toString('latin1')) && !type.startsWith('image/')) problems.push(`internals in the body: ${answered.toString('latin1').slice(0, 200)}`);
      // A file only behind a link exactly as it was signed.
      if ((res.status === 200 || res.status === 206) && r.target.kind !== 'upload' && r.method === 'GET') {
        if (!r.target.signed) problems.push(`${r.target.path} served without its signed link`);
        served++;
      }
      if (logged.length) problems.push(`logged: ${logged.splice(0).join(' | ')}`);
      if (problems.length) throw new Error(`${r.method} ${r.target.path.slice(0, 120)} ${JSON.stringify(r.headers).slice(0, 300)} → ${res.status}: ${problems.join('; ')}`);
    });
    try {
      await fc.assert(property, { numRuns: RUNS, seed: SEED, endOnFailure: true });
    } catch (err) {
      const cause = (err as Error).cause instanceof Error ? `\n${((err as Error).cause as Error).message}` : '';
      throw new Error(`route fuzzing failed; replay with ROUTE_FUZZ_SEED=${SEED} ROUTE_FUZZ_RUNS=${RUNS}\n${(err as Error).message}${cause}`);
    }

    // The server is fine and kept its records straight.
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const em = server.db.orm.em.fork();
    for (const u of await em.find(Upload, {})) expect(u.receivedBytes).toBeLessThanOrEqual(u.size);
    const assets = await em.find(Asset, {});
    const storage = await createStorage(server.config.storage);
    for (const a of assets) {
      const hash = createHash('sha256');
      for await (const chunk of await storage.get(a.storageKey)) hash.update(chunk as Buffer);
      expect(hash.digest('hex')).toBe(a.sha256);
    }
    // And a real upload still goes through.
    const api = apiClient(base);
    const owner = await api.signUp('after@routes.test');
    const chest = await api.createChest(owner);
    await expect(api.upload(owner, chest, await jpeg(64, 64, '#1a7'), 'after.jpg', 'image/jpeg')).resolves.toMatch(/^[0-9a-f-]{36}$/);
    console.log(`route fuzzing: ${RUNS} requests (seed ${SEED}); by status ${JSON.stringify(byStatus)}; error codes ${JSON.stringify(byCode)}; files served ${served} (all through untouched signed links); memories ${assets.length}, every original's SHA-256 checked`);
  });
});
