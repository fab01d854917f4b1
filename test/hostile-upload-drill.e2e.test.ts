import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually } from './support/client.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { hostileFiles } from './support/hostile-files.js';
import { type ProductProcess, startApi, startWorkerProcess } from './support/processes.js';

/**
 * The hostile-upload drill (issue 11, point 5): type mismatches, polyglots, SVG with script, a PNG
 * decompression bomb, a DOCX zip bomb, a PNG whose header claims 50,000×50,000, truncated, empty,
 * oversized and badly named files, photos and videos with GPS, sent through the real HTTP API of a
 * served API process and processed by a separate worker process. Nothing may crash, every upload
 * ends COMPLETE, FAILED with a reason, or refused with a stable code (never INTERNAL_SERVER_ERROR),
 * the API's memory stays flat and the worker's within its limit. 60 files here;
 * `HOSTILE_UPLOADS=500 npx vitest run test/hostile-upload-drill.e2e.test.ts` for the full drill
 * (figures in RELIABILITY.md).
 */
const COUNT = Number(process.env.HOSTILE_UPLOADS ?? 60);
const CONCURRENCY = 2;
const SANDBOX_MB = 256;
/** Uploads in flight at once: a family's phones, not a load test. */
const IN_FLIGHT = 4;
const MiB_KB = 1024;

describe(`the hostile-upload drill (${COUNT} files)`, () => {
  let db: TestDatabase;
  let dataDir: string;
  let api: ProductProcess;
  let worker: ProductProcess;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-drill-'));
    const env = { DATABASE_URL: db.url, DATA_DIR: dataDir, SWEEP_INTERVAL_MINUTES: '0', WORKER_CONCURRENCY: String(CONCURRENCY), SANDBOX_MEMORY_MB: String(SANDBOX_MB) };
    ({ proc: api, url } = await startApi(env));
    worker = await startWorkerProcess(env);
  }, 180_000);
  afterAll(async () => {
    await worker?.kill('SIGKILL');
    await api?.kill('SIGKILL');
    await db?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('crashes nothing, gives every file a coded outcome, and keeps memory bounded', { timeout: 30 * 60_000 }, async () => {
    const client = apiClient(url);
    const owner = await client.signUp('rose.owner@example.com');
    const chestId = await client.createChest(owner);
    // Warm the paths once (first GraphQL request, first upload, first job) before the baseline.
    await client.upload(owner, chestId, Buffer.from('warm-up letter'), 'warm.txt', 'text/plain');
    const apiBase = await memoryKb(api);
    const workerBase = await memoryKb(worker);
    let apiPeakRss = apiBase.rss;
    let workerPeakRss = workerBase.rss;
    const sampler = setInterval(() => {
      void memoryKb(api).then((m) => (apiPeakRss = Math.max(apiPeakRss, m.rss)), () => undefined);
      void memoryKb(worker).then((m) => (workerPeakRss = Math.max(workerPeakRss, m.rss)), () => undefined);
    }, 100);

    const refused = new Map<string, number>();
    const accepted: Array<{ kind: string; assetId: string }> = [];
    const byKind = new Map<string, { refused: number; complete: number; failed: number }>();
    const tally = (kind: string) => byKind.get(kind) ?? byKind.set(kind, { refused: 0, complete: 0, failed: 0 }).get(kind)!;
    const refuse = (kind: string, code: string | undefined) => {
      // A stable code from the catalogue, never a crash's.
      expect(code, kind).toMatch(/^[A-Z_]+$/);
      expect(code, kind).not.toBe('INTERNAL_SERVER_ERROR');
      refused.set(code!, (refused.get(code!) ?? 0) + 1);
      tally(kind).refused++;
    };

    const files = hostileFiles(COUNT);
    const sendNext = async (): Promise<void> => {
      for (;;) {
        const next = await files.next();
        if (next.done) return;
        const f = next.value;
        const ticket = await client.gql(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, {
          i: { chestId, filename: f.filename, size: f.declaredSize ?? f.bytes.length, mimeType: f.mimeType },
        }, owner);
        if (ticket.errors) {
          refuse(f.kind, ticket.errors[0]?.extensions?.code);
          continue;
        }
        const headers = Object.fromEntries((ticket.data.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
        const res = await fetch(`${url}${ticket.data.createUpload.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: f.bytes });
        const body = (await res.json().catch(() => ({}))) as { assetId?: string; errors?: { extensions?: { code?: string } }[] };
        expect(res.status, f.kind).toBeLessThan(500);
        if (res.status === 200 && body.assetId) accepted.push({ kind: f.kind, assetId: body.assetId });
        else refuse(f.kind, body.errors?.[0]?.extensions?.code);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, sendNext));

    // Every accepted file is processed to an end: none left PENDING or PROCESSING.
    const count = async (statuses: string[]) =>
      (await client.must(`query($c: ID!, $s: [ProcessingStatus!]) { chest(id: $c) { assets(statuses: $s, first: 1) { totalCount } } }`, { c: chestId, s: statuses }, owner)).chest.assets.totalCount as number;
    await eventually(async () => ((await count(['PENDING', 'PROCESSING'])) === 0 ? true : undefined), COUNT * 2_000 + 60_000, 500);
    clearInterval(sampler);

    const outcome = new Map<string, { status: string; error: string | null }>();
    let after: string | null = null;
    do {
      type Page = { edges: { node: { id: string; status: string; processingError: string | null } }[]; pageInfo: { endCursor: string; hasNextPage: boolean } };
      const page: Page = (await client.must(`query($c: ID!, $a: String) { chest(id: $c) { assets(first: 100, after: $a) { edges { node { id status processingError } } pageInfo { endCursor hasNextPage } } } }`, { c: chestId, a: after }, owner)).chest.assets;
      for (const { node } of page.edges) outcome.set(node.id, { status: node.status, error: node.processingError });
      after = page.pageInfo.hasNextPage ? page.pageInfo.endCursor : null;
    } while (after);
    for (const { kind, assetId } of accepted) {
      const o = outcome.get(assetId);
      expect(o, `${kind} ${assetId}`).toBeDefined();
      if (o!.status === 'COMPLETE') tally(kind).complete++;
      else {
        expect(o!.status, kind).toBe('FAILED');
        // A reason written for people, not a stack or an internal message.
        expect(o!.error, kind).toMatch(/^[A-Z"].{10,}/);
        expect(o!.error, kind).not.toMatch(/Error:|at .+\(.+:\d+:\d+\)|ECONN|SQL/);
        tally(kind).failed++;
      }
    }
    const refusedTotal = [...refused.values()].reduce((a, b) => a + b, 0);
    expect(accepted.length + refusedTotal).toBe(COUNT);

    // Nothing crashed: both processes are the ones started, answering; no job was retried into a crash.
    expect(api.child.exitCode).toBeNull();
    expect(worker.child.exitCode).toBeNull();
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(worker.logs.filter((l) => l.msg === 'processing attempt failed; will retry')).toEqual([]);

    // Memory: the API (which only receives bytes) stays flat; the worker within its sandboxes' heaps.
    const apiEnd = await memoryKb(api);
    const workerEnd = await memoryKb(worker);
    const figures = {
      files: COUNT,
      accepted: accepted.length,
      complete: [...byKind.values()].reduce((a, k) => a + k.complete, 0),
      failed: [...byKind.values()].reduce((a, k) => a + k.failed, 0),
      refused: Object.fromEntries(refused),
      apiRssMb: { base: mb(apiBase.rss), peak: mb(apiPeakRss), end: mb(apiEnd.rss), hwmGrowth: mb(apiEnd.hwm - apiBase.hwm) },
      workerRssMb: { base: mb(workerBase.rss), peak: mb(workerPeakRss), end: mb(workerEnd.rss), hwm: mb(workerEnd.hwm) },
      byKind: Object.fromEntries(byKind),
    };
    console.log(`hostile-upload drill: ${JSON.stringify(figures, null, 2)}`);
    expect(apiEnd.hwm - apiBase.hwm).toBeLessThan(160 * MiB_KB);
    expect(apiEnd.rss - apiBase.rss).toBeLessThan(128 * MiB_KB);
    // Each job's sandbox may hold its heap and young generation; the rest is the process's own.
    expect(workerEnd.hwm).toBeLessThan(workerBase.hwm + CONCURRENCY * (SANDBOX_MB + 64) * MiB_KB + 256 * MiB_KB);
  });
});

const mb = (kb: number) => Math.round(kb / 1024);

/** Resident memory now and at its highest so far, kB (Linux /proc). */
async function memoryKb(proc: ProductProcess): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${proc.child.pid}/status`, 'utf8');
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]);
  const hwm = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
  expect(rss).toBeGreaterThan(0);
  return { rss, hwm };
}
