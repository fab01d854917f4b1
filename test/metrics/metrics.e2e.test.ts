import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startWorkerHealth, type WorkerHealth } from '../../src/health/worker-health.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { MAX_OPERATION_NAMES } from '../../src/metrics/graphql-plugin.js';
import { exposeQueueDepth } from '../../src/metrics/jobs.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { sweepOnce } from '../../src/worker/sweep-schedule.js';
import { apiClient, eventually } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTestServer, type TestServer } from '../support/server.js';

/** One sample's value: `name{labels} value`, labels in any order; 0 when the series is absent. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  // The sum over every series that has these labels (the others may differ).
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[3]);
  }
  return sum;
}

/** Every value one label takes in a metric's series. */
function labelValues(text: string, name: string, label: string): Set<string> {
  const values = new Set<string>();
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const v = new RegExp(`${label}="((?:[^"\\\\]|\\\\.)*)"`).exec(line)?.[1];
    if (v !== undefined) values.add(v);
  }
  return values;
}

/**
 * /metrics on the API and on the worker's health port of the same process (the embedded shape:
 * one registry), after real requests, GraphQL operations, a refused document, an upload, a live
 * subscription and a processed job, over loopback HTTP and websockets.
 */
describe('metrics', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let health: WorkerHealth;
  const METRICS_TOKEN = 'metrics-token-for-the-test-0123456789';
  const email = 'zebulon.metrics-person@example.com';
  const personName = 'Quintessa Marlowe-Fairweather';
  let token: string;
  let chestId: string;
  let assetId: string;
  let uploadUrl: string;
  let uploadSecret: string;

  const scrape = async (base = server.app.url(), headers: Record<string, string> = {}) => {
    const res = await fetch(`${base}/metrics`, { headers });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };

  beforeAll(async () => {
    server = await startTestServer({ SWEEP_INTERVAL_MINUTES: '0' }, { worker: true });
    api = apiClient(server.app.url());
    const { config, database, app } = server;
    // The worker's health port, in this process as in the embedded mode, with a token.
    health = await startWorkerHealth({
      host: '127.0.0.1',
      port: 0,
      db: database,
      storage: app.storage,
      queue: app.services.queue,
      metrics: { enabled: true, token: METRICS_TOKEN },
      log: pino({ level: 'silent' }),
    });
    expect(config.metrics).toEqual({ enabled: true, token: null });
  }, 120_000);

  afterAll(async () => {
    await health?.close();
    await server?.stop();
  });

  it('counts requests, operations, refusals, uploads, subscriptions and jobs, with bounded labels and no secrets', { timeout: 120_000 }, async () => {
    const before = await scrape();
    token = await api.signUp(email);
    chestId = await api.createChest(token, personName);
    const named = await api.gql(`query ChestForMetrics($id: ID!) { chest(id: $id) { id personName } }`, { id: chestId }, token);
    expect(named.data?.chest.personName).toBe(personName);
    // An operation that fails: a chest nobody may see.
    const missing = await api.gql(`query MissingChest($id: ID!) { chest(id: $id) { id } }`, { id: '00000000-0000-4000-8000-000000000000' }, token);
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    // Apollo refuses it in validation: never executed.
    expect((await api.gql(`query NoSuchField { noSuchField }`)).errors).toBeDefined();
    // Refused by the query limits before Apollo: a syntax error and too many aliases.
    expect((await api.gql(`query Broken {`)).errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    const aliases = Array.from({ length: 30 }, (_, i) => `a${i}: __typename`).join(' ');
    expect((await api.gql(`query TooMany { ${aliases} }`)).errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect((await fetch(`${server.app.url()}/no-such-route/${personName}`)).status).toBe(404);

    // A subscription that sees the upload's memory arrive.
    const ws = api.ws(token);
    const added = api.collect(ws, `subscription($c: ID!) { memoryAdded(chestId: $c) { id } }`, { c: chestId }, (all) => all.length === 1);
    await api.settled(ws);
    const open = await eventually(async () => {
      const text = await scrape();
      return sample(text, 'memory_chest_graphql_subscriptions_open') >= 1 ? text : undefined;
    }, 20_000, 50);
    expect(sample(open, 'memory_chest_graphql_subscriptions_open')).toBeGreaterThanOrEqual(1);

    const bytes = await jpeg(320, 240);
    const ticket = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { chestId, filename: 'rose-garden.jpg', size: bytes.length, mimeType: 'image/jpeg' } }, token);
    uploadUrl = ticket.createUpload.url;
    const headers = Object.fromEntries((ticket.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    uploadSecret = /^Upload\s+(\S+)$/.exec(headers.Authorization ?? headers.authorization ?? '')?.[1] ?? '';
    expect(uploadSecret).not.toBe('');
    const put = await fetch(`${server.app.url()}${uploadUrl}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: bytes });
    expect(put.status).toBe(200);
    assetId = ((await put.json()) as { assetId: string }).assetId;
    expect((await added.done)[0]?.data?.memoryAdded.id).toBe(assetId);
    await eventually(async () => {
      const r = await api.gql(`query AssetStatus($id: ID!) { asset(id: $id) { status } }`, { id: assetId }, token);
      return r.data?.asset.status === 'COMPLETE' ? true : undefined;
    }, 60_000, 250);
    // Over the websocket: a named query, one validation refuses, one the precheck refuses.
    const overSocket = (query: string) =>
      new Promise<{ data?: unknown; errors?: readonly { extensions?: Record<string, unknown> }[] }>((resolve) => {
        let got: { data?: unknown } = {};
        ws.subscribe({ query, variables: { id: chestId } }, { next: (r) => void (got = r), error: (e) => resolve({ errors: e as never }), complete: () => resolve(got) });
      });
    expect(((await overSocket(`query SocketForMetrics($id: ID!) { chest(id: $id) { personName } }`)).data as { chest: { personName: string } }).chest.personName).toBe(personName);
    expect((await overSocket(`query SocketInvalid { noSuchField }`)).errors).toBeDefined();
    expect((await overSocket(`query SocketBroken {`)).errors?.[0]?.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
    await ws.dispose();

    const after = await eventually(async () => {
      const text = await scrape();
      return sample(text, 'memory_chest_job_duration_seconds_count', { queue: 'asset.process', outcome: 'success' }) >= 1 &&
        sample(text, 'memory_chest_graphql_subscriptions_open') === 0
        ? text
        : undefined;
    }, 20_000, 100);
    const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);

    expect(moved('memory_chest_http_requests_total', { method: 'POST', route: '/graphql', status: '200' })).toBeGreaterThanOrEqual(5);
    expect(moved('memory_chest_http_requests_total', { method: 'PATCH', route: '/uploads/:id', status: '200' })).toBe(1);
    expect(moved('memory_chest_http_requests_total', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
    expect(moved('memory_chest_http_requests_total', { method: 'GET', route: '/metrics', status: '200' })).toBeGreaterThanOrEqual(1);
    expect(moved('memory_chest_http_request_duration_seconds_count', { method: 'PATCH', route: '/uploads/:id' })).toBe(1);
    expect(moved('memory_chest_graphql_operations_total', { operation: 'ChestForMetrics', type: 'query', outcome: 'success' })).toBe(1);
    expect(moved('memory_chest_graphql_operations_total', { operation: 'MissingChest', type: 'query', outcome: 'error' })).toBe(1);
    // An invalid document's name is never given a label place of its own (see the cap tests).
    expect(moved('memory_chest_graphql_operations_total', { operation: 'other', outcome: 'invalid' })).toBeGreaterThanOrEqual(1);
    expect(labelValues(after, 'memory_chest_graphql_operations_total', 'operation').has('NoSuchField')).toBe(false);
    expect(moved('memory_chest_graphql_operations_total', { operation: 'anonymous', type: 'mutation', outcome: 'success' })).toBeGreaterThanOrEqual(3);
    expect(moved('memory_chest_graphql_operation_duration_seconds_count', { operation: 'ChestForMetrics', type: 'query', outcome: 'success' })).toBe(1);
    expect(moved('memory_chest_graphql_operations_total', { transport: 'http', operation: 'ChestForMetrics' })).toBe(1);
    // The same over the websocket: queries, subscriptions (timed until running), validation refusals.
    expect(moved('memory_chest_graphql_operations_total', { transport: 'websocket', operation: 'SocketForMetrics', type: 'query', outcome: 'success' })).toBe(1);
    expect(moved('memory_chest_graphql_operation_duration_seconds_count', { transport: 'websocket', operation: 'SocketForMetrics', type: 'query', outcome: 'success' })).toBe(1);
    expect(moved('memory_chest_graphql_operations_total', { transport: 'websocket', operation: 'anonymous', type: 'subscription', outcome: 'success' })).toBe(1);
    expect(moved('memory_chest_graphql_operations_total', { transport: 'websocket', operation: 'other', type: 'query', outcome: 'invalid' })).toBe(1);
    expect(labelValues(after, 'memory_chest_graphql_operations_total', 'operation').has('SocketInvalid')).toBe(false);
    expect(moved('memory_chest_graphql_rejected_documents_total', { transport: 'websocket', code: 'GRAPHQL_PARSE_FAILED', limit: 'none' })).toBe(1);
    expect(labelValues(after, 'memory_chest_graphql_operations_total', 'operation').has('SocketBroken')).toBe(false);
    // Refused documents never reach Apollo: counted apart, not as operations.
    expect(moved('memory_chest_graphql_rejected_documents_total', { transport: 'http', code: 'GRAPHQL_PARSE_FAILED', limit: 'none' })).toBe(1);
    expect(moved('memory_chest_graphql_rejected_documents_total', { transport: 'http', code: 'QUERY_TOO_COMPLEX', limit: 'aliases' })).toBe(1);
    expect(labelValues(after, 'memory_chest_graphql_operations_total', 'operation').has('TooMany')).toBe(false);
    expect(moved('memory_chest_graphql_subscription_events_total')).toBeGreaterThanOrEqual(1);
    expect(moved('memory_chest_upload_bytes_total')).toBe(bytes.length);
    expect(moved('memory_chest_job_duration_seconds_count', { queue: 'asset.process', outcome: 'success' })).toBeGreaterThanOrEqual(1);
    expect(sample(after, 'memory_chest_job_failures_total', { queue: 'asset.process' })).toBe(0);
    // Queue depth, counted at scrape time.
    expect(sample(after, 'memory_chest_job_queue_up')).toBe(1);
    expect(sample(after, 'memory_chest_job_queue_jobs', { queue: 'asset.process', state: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(labelValues(after, 'memory_chest_job_queue_jobs', 'state')).toEqual(new Set(['created', 'retry', 'active', 'completed', 'failed']));
    // Default process metrics.
    expect(after).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(after).toMatch(/^nodejs_eventloop_lag_seconds \d/m);

    // The worker's health port shows the same registry (one per process), behind its token.
    expect((await fetch(`http://127.0.0.1:${health.port}/metrics`)).status).toBe(401);
    expect((await fetch(`http://127.0.0.1:${health.port}/metrics`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status).toBe(401);
    const worker = await scrape(`http://127.0.0.1:${health.port}`, { authorization: `Bearer ${METRICS_TOKEN}` });
    expect(sample(worker, 'memory_chest_job_duration_seconds_count', { queue: 'asset.process', outcome: 'success' })).toBeGreaterThanOrEqual(1);
    expect(sample(worker, 'memory_chest_job_queue_jobs', { queue: 'asset.process', state: 'completed' })).toBeGreaterThanOrEqual(1);
    expect(worker.match(/^# HELP memory_chest_job_duration_seconds /gm)).toHaveLength(1);

    // Nothing a person typed or any id or secret.
    const uploadId = uploadUrl.split('/').pop()!;
    for (const text of [after, worker]) {
      for (const secret of [token, email, 'zebulon', personName, 'Quintessa', chestId, assetId, uploadId, uploadSecret, METRICS_TOKEN, 'rose-garden']) {
        expect(text.toLowerCase()).not.toContain(secret.toLowerCase());
      }
    }
  });

  it('records each sweep: runs by outcome and what it found by kind', { timeout: 60_000 }, async () => {
    const before = await scrape();
    const log = pino({ level: 'silent' });
    await sweepOnce({ config: server.config, db: server.database, storage: server.app.storage, log });
    // A store that refuses everything: the sweep fails, and says so.
    // (Throwing, not rejecting: a rejected promise nobody awaited would be a stray error of the test's own making.)
    const down = new Proxy({}, { get: () => () => { throw new Error('storage down'); } }) as StorageBackend;
    await sweepOnce({ config: server.config, db: server.database, storage: down, log });
    const after = await scrape();
    const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    expect(moved('memory_chest_sweep_runs_total', { outcome: 'success' })).toBe(1);
    expect(moved('memory_chest_sweep_runs_total', { outcome: 'failure' })).toBe(1);
    expect(labelValues(after, 'memory_chest_sweep_items_total', 'kind')).toEqual(new Set(['staging', 'orphans', 'derivatives', 'expired', 'events_pruned', 'rate_limits_pruned', 'temp_files', 'missing']));
  });

  it('gives a label place only to an operation that ran: invalid documents cannot use up the names', async () => {
    for (let i = 0; i < 5; i++) await api.gql(`query Junk${i} { nope${i} }`);
    await api.gql(`query Junk0 { __typename }`);
    const text = await scrape();
    const names = labelValues(text, 'memory_chest_graphql_operations_total', 'operation');
    expect(names.has('Junk0')).toBe(true);
    for (let i = 1; i < 5; i++) expect(names.has(`Junk${i}`)).toBe(false);
    expect(sample(text, 'memory_chest_graphql_operations_total', { operation: 'other', outcome: 'invalid' })).toBeGreaterThanOrEqual(5);
  });

  it('labels at most MAX_OPERATION_NAMES operation names; the rest are "other"', { timeout: 60_000 }, async () => {
    for (let i = 0; i < MAX_OPERATION_NAMES + 30; i++) await api.gql(`query Probe${i} { __typename }`);
    await api.gql(`query ${'L'.repeat(80)} { __typename }`);
    const text = await scrape();
    const names = labelValues(text, 'memory_chest_graphql_operations_total', 'operation');
    const fixed = new Set(['anonymous', 'unknown', 'other']);
    expect([...names].filter((n) => !fixed.has(n)).length).toBeLessThanOrEqual(MAX_OPERATION_NAMES);
    expect(sample(text, 'memory_chest_graphql_operations_total', { operation: 'other', type: 'query', outcome: 'success' })).toBeGreaterThanOrEqual(30);
    expect(sample(text, 'memory_chest_graphql_operations_total', { operation: 'unknown', type: 'query', outcome: 'success' })).toBe(1);
  });

  it('answers in bounded time when the queue does not: its depth is left out and job_queue_up is 0', { timeout: 30_000 }, async () => {
    // A queue whose database never answers (a stand-in for a hung PostgreSQL; the real queue is exercised above).
    const hung = { counts: () => new Promise(() => undefined) } as unknown as JobQueue;
    const unexpose = exposeQueueDepth({ queue: hung });
    try {
      const text = await scrape();
      expect(sample(text, 'memory_chest_job_queue_up')).toBe(0);
      expect(labelValues(text, 'memory_chest_job_queue_jobs', 'queue').size).toBe(0);
    } finally {
      unexpose();
    }
    expect(sample(await scrape(), 'memory_chest_job_queue_up')).toBe(1);
  });

  it('METRICS=off removes /metrics; METRICS_TOKEN is read and checked', async () => {
    const off = loadConfig({ METRICS: 'off' });
    expect(off.metrics).toEqual({ enabled: false, token: null });
    expect(loadConfig({ METRICS_TOKEN: METRICS_TOKEN }).metrics).toEqual({ enabled: true, token: METRICS_TOKEN });
    expect(() => loadConfig({ METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
    expect(() => loadConfig({ METRICS: 'maybe' })).toThrow(/METRICS/);
    const quiet = await startWorkerHealth({ host: '127.0.0.1', port: 0, db: server.database, storage: server.app.storage, queue: server.app.services.queue, metrics: off.metrics, log: pino({ level: 'silent' }) });
    try {
      expect((await fetch(`http://127.0.0.1:${quiet.port}/metrics`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${quiet.port}/healthz`)).status).toBe(200);
    } finally {
      await quiet.close();
    }
  });
});
