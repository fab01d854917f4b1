/**
 * The whole upload path (ticket, HTTP PATCH, staging parts, sniffing, SHA-256, the original, the
 * asset row) against the floor it sits on, on each storage backend, in one run:
 *   filesystem: a plain file write of the same bytes with fsync, in the same folder; and the same
 *               HTTP stream (same client, same chunks) into a bare node:http server that writes the
 *               body to a file there, hashing it, with one fsync: the floor of an upload over HTTP;
 *   S3:         the backend's own put of the same bytes to the same s3rver (S3Storage.put, which
 *               drives the multipart calls itself: minio's putObject needs ListMultipartUploads,
 *               which s3rver lacks); and the same HTTP stream into a bare node:http server that
 *               hashes it and hands it to that put. s3rver runs in a process of its own
 *               (s3rver-child.cjs), as a storage server does, so its CPU is not the bench's.
 * Rounds are interleaved (baseline and upload alternate, order flipped every round); every round
 * uploads different bytes (no dedup). Reports the median with min–max, the ratio of medians, and
 * the peak RSS growth during the uploads (the server runs in this process), and the median CPU time
 * of this process per round (server and client together; a shared machine disturbs it less than
 * the wall clock).
 * BENCH_UPLOAD_MIB (default 256), BENCH_UPLOAD_ROUNDS (default 5) and BENCH_UPLOAD_BACKENDS
 * (default "filesystem,s3") change the size, the rounds and the backends.
 */
import { fork, spawn } from 'node:child_process';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { createServer, request } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Asset } from '../src/db/entities/index.js';
import { startTestServer, type TestServer } from '../test/support/server.js';
import { makeAccount, makeChest } from '../test/support/factories.js';
import { wav } from '../test/support/media.js';
import { startStorageEnv, STORAGE_ENVS, type StorageName } from '../test/support/storage.js';
import type { StorageBackend } from '../src/storage/storage.port.js';

const SIZE_MIB = Number(process.env.BENCH_UPLOAD_MIB ?? 256);
const ROUNDS = Number(process.env.BENCH_UPLOAD_ROUNDS ?? 5);
const BACKENDS = (process.env.BENCH_UPLOAD_BACKENDS ?? STORAGE_ENVS.join(',')).split(',') as StorageName[];
const CHUNK = 1024 * 1024;
/**
 * s3rver's koa needs generator-function's CommonJS build, which Node 24 under tsx replaces with
 * its ESM one (the module-sync condition) unless require(esm) is off: the run happens in a child.
 */
const REQUIRE_ESM_OFF = '--no-experimental-require-module';

/** The bytes as a stream of 1 MiB chunks (views, no copies), as a socket would deliver them. */
const chunks = (bytes: Buffer) => Readable.from((function* () {
  for (let i = 0; i < bytes.length; i += CHUNK) yield bytes.subarray(i, i + CHUNK);
})());

interface Row {
  ms: number[];
  /** CPU time of this process (server and client together) per round: less sensitive than ms to a machine that others load. */
  cpuMs: number[];
  peakRssMiB: number[];
}

export async function run(): Promise<void> {
  if (!process.execArgv.includes(REQUIRE_ESM_OFF) && !process.env.NODE_OPTIONS?.includes(REQUIRE_ESM_OFF)) {
    const child = spawn(process.execPath, [REQUIRE_ESM_OFF, '--import', 'tsx', '--import', 'reflect-metadata', new URL(import.meta.url).pathname], { stdio: 'inherit' });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    if (code !== 0) throw new Error(`upload-vs-put exited with ${code}`);
    return;
  }
  const results: Record<string, { baseline: Row; upload: Row; baselineName: string; rawHttp?: Row }> = {};
  const bytes = wav((SIZE_MIB * 1024 * 1024) / 2, (j) => (j * 7919) & 0x7fff);
  for (const name of BACKENDS) results[name] = await benchBackend(name, bytes);

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const mibps = (ms: number) => (SIZE_MIB * 1000) / ms;
  console.log(`\nupload-vs-put: ${SIZE_MIB} MiB, ${ROUNDS} interleaved rounds, median (min–max)`);
  const table: Record<string, Record<string, string>> = {};
  for (const [name, r] of Object.entries(results)) {
    const fmt = (row: Row) => `${mibps(median(row.ms)).toFixed(0)} (${mibps(Math.max(...row.ms)).toFixed(0)}–${mibps(Math.min(...row.ms)).toFixed(0)})`;
    const cpu = (row: Row) => median(row.cpuMs).toFixed(0);
    table[`${name}: ${r.baselineName}`] = { 'MiB/s': fmt(r.baseline), ratio: '1.00', 'peak RSS +MiB': median(r.baseline.peakRssMiB).toFixed(0), 'CPU ms': cpu(r.baseline) };
    if (r.rawHttp) {
      table[`${name}: ${name === 'filesystem' ? 'bare node:http → file + SHA-256 + fsync' : 'bare node:http → SHA-256 + storage.put'}`] = {
        'MiB/s': fmt(r.rawHttp),
        ratio: (median(r.baseline.ms) / median(r.rawHttp.ms)).toFixed(2),
        'peak RSS +MiB': median(r.rawHttp.peakRssMiB).toFixed(0),
        'CPU ms': cpu(r.rawHttp),
      };
    }
    table[`${name}: HTTP upload (ticket → PATCH → asset)`] = {
      'MiB/s': fmt(r.upload),
      ratio: (median(r.baseline.ms) / median(r.upload.ms)).toFixed(2),
      'peak RSS +MiB': median(r.upload.peakRssMiB).toFixed(0),
      'CPU ms': cpu(r.upload),
      ...(r.rawHttp ? { 'ratio to bare HTTP': (median(r.rawHttp.ms) / median(r.upload.ms)).toFixed(2) } : {}),
    };
  }
  console.table(table);
}

/** PATCHes the bytes with the bench's client (node:http, 1 MiB chunks) and returns the answer. */
function patchBytes(url: string, headers: Record<string, string>, bytes: Buffer): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0', 'Content-Length': String(bytes.length) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, text: body }));
    });
    req.on('error', reject);
    chunks(bytes).pipe(req);
  });
}

/** The floor of an upload over HTTP: a bare server that writes the body to a file as it arrives, hashing it, then one fsync. */
async function rawHttpServer(dir: string) {
  let n = 0;
  const server = createServer(async (req, res) => {
    const path = join(dir, `raw-http-${n++}`);
    const handle = await open(path, 'wx');
    const hash = createHash('sha256');
    let at = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      hash.update(c);
      for (let done = 0; done < c.length; ) done += (await handle.write(c, done, c.length - done, at + done)).bytesWritten;
      at += c.length;
    }
    await handle.sync();
    await handle.close();
    res.end(JSON.stringify({ path, sha256: hash.digest('hex') }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * The S3 peer of the same HTTP stream: a bare server that hashes the body as it arrives and hands
 * it to the backend's own put (S3Storage.put: one multipart upload, 64 MiB parts).
 */
async function rawHttpS3Server(storage: StorageBackend) {
  let n = 0;
  const server = createServer(async (req, res) => {
    const key = `bench/raw-http/${Date.now()}-${n++}`;
    const hash = createHash('sha256');
    const hashed = Readable.from(
      (async function* () {
        for await (const c of req as AsyncIterable<Buffer>) {
          hash.update(c);
          yield c;
        }
      })(),
    );
    await storage.put(key, hashed);
    res.end(JSON.stringify({ path: key, sha256: hash.digest('hex') }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** s3rver in its own process (s3rver-child.cjs), with the environment that points the app at it. */
async function startS3Process(): Promise<{ env: Record<string, string>; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'dmc-bench-s3-'));
  const child = fork(new URL('./s3rver-child.cjs', import.meta.url).pathname, [dir], { execArgv: [REQUIRE_ESM_OFF] });
  const { port } = await new Promise<{ port: number }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { port: number }));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
  });
  return {
    env: { S3_ENDPOINT: `http://127.0.0.1:${port}`, S3_ACCESS_KEY: 'S3RVER', S3_SECRET_KEY: 'S3RVER', S3_BUCKET: 'memory-chest-bench' },
    async stop() {
      child.kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function benchBackend(name: StorageName, bytes: Buffer): Promise<{ baseline: Row; upload: Row; baselineName: string; rawHttp?: Row }> {
  const env = name === 's3' ? await startS3Process() : await startStorageEnv(name);
  let server: TestServer | undefined;
  let raw: Awaited<ReturnType<typeof rawHttpServer>> | undefined;
  try {
    server = await startTestServer({ ...env.env, MAX_AUDIO_MB: String(SIZE_MIB * 2) });
    const app = server.app;
    const em = server.db.orm.em.fork();
    const owner = await makeAccount(em);
    const chestId = (await makeChest(em, {}, owner.account)).id;
    const dataDir = env.env.DATA_DIR;

    const baselineOnce = async (round: number) => {
      if (name === 'filesystem') {
        const path = join(dataDir!, `raw-${round}`);
        const handle = await open(path, 'wx');
        for await (const c of chunks(bytes)) await handle.write(c as Buffer);
        await handle.sync();
        await handle.close();
        return () => rm(path);
      }
      const key = `bench/raw/${Date.now()}-${round}`;
      await app.storage.put(key, chunks(bytes));
      return () => app.storage.delete(key);
    };
    const uploadOnce = async () => {
      const res = await fetch(`${app.url()}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
        body: JSON.stringify({
          query: `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`,
          variables: { i: { chestId, filename: 'bench.wav', size: bytes.length, mimeType: 'audio/wav' } },
        }),
      });
      const t = ((await res.json()) as any).data.createUpload;
      const headers = Object.fromEntries(t.headers.map((h: any) => [h.name, h.value]));
      // node:http, not fetch: fetch copies every chunk of a streamed body (web streams), which the
      // client would pay for in this same process.
      const { status, text } = await patchBytes(`${app.url()}${t.url}`, headers, bytes);
      const answer = JSON.parse(text) as any;
      if (status !== 200 || answer.duplicate) throw new Error(`upload failed: ${text}`);
      return async () => {
        const asset = await server!.db.orm.em.fork().findOneOrFail(Asset, answer.assetId);
        await app.storage.delete(asset.storageKey);
      };
    };
    const timed = async (fn: () => Promise<() => Promise<unknown>>, row: Row) => {
      globalThis.gc?.();
      const base = process.memoryUsage().rss;
      let peak = base;
      const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const cleanup = await fn();
      row.ms.push(performance.now() - t0);
      const cpu = process.cpuUsage(cpu0);
      row.cpuMs.push((cpu.user + cpu.system) / 1000);
      console.error(`  ${name} ${row === upload ? 'upload' : row === rawHttp ? 'bare http' : 'baseline'}: ${row.ms.at(-1)!.toFixed(0)} ms, CPU ${row.cpuMs.at(-1)!.toFixed(0)} ms`);
      clearInterval(sampler);
      row.peakRssMiB.push((peak - base) / 1024 / 1024);
      await cleanup();
    };

    const baseline: Row = { ms: [], cpuMs: [], peakRssMiB: [] };
    const upload: Row = { ms: [], cpuMs: [], peakRssMiB: [] };
    const rawHttp: Row = { ms: [], cpuMs: [], peakRssMiB: [] };
    raw = name === 'filesystem' ? await rawHttpServer(dataDir!) : await rawHttpS3Server(app.storage);
    const rawHttpOnce = async () => {
      const { status, text } = await patchBytes(raw!.url, {}, bytes);
      if (status !== 200) throw new Error(`bare http failed: ${text}`);
      const { path } = JSON.parse(text) as { path: string };
      return () => (name === 'filesystem' ? rm(path) : app.storage.delete(path));
    };
    let round = 0;
    const mark = () => bytes.writeUInt32LE(round++, 60); // inside the WAV data: new bytes, same file
    mark();
    await (await uploadOnce())(); // warm-up
    for (let i = 0; i < ROUNDS; i++) {
      mark();
      const steps = [() => timed(() => baselineOnce(i), baseline), () => timed(uploadOnce, upload)];
      if (raw) steps.splice(1, 0, () => timed(rawHttpOnce, rawHttp));
      if (i % 2) steps.reverse();
      for (const step of steps) await step();
    }
    return {
      baseline,
      upload,
      baselineName: name === 'filesystem' ? 'file write + fsync (baseline)' : 'storage.put to s3rver (baseline)',
      ...(raw ? { rawHttp } : {}),
    };
  } finally {
    await raw?.close();
    await server?.stop();
    await env.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await import('reflect-metadata');
  await run();
  process.exit(0);
}
