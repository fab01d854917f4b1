import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { startTracing, tracingOn } from '../../src/tracing/tracing.js';
import { apiClient, eventually } from '../support/client.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { jpegWithExif } from '../support/media.js';
import { type ProductProcess, startApi, startWorkerProcess } from '../support/processes.js';
import { type ReceivedSpan, startOtlpReceiver } from './otlp-receiver.js';

const SERVER = 2;
const CONSUMER = 5;

/**
 * Tracing as deployed: an API process and a worker process from source, both told of a loopback
 * OTLP/HTTP collector (JSON). An upload, a GraphQL query over HTTP, a query and a subscription over
 * the websocket; the spans must arrive with their names, attributes and parent links (the upload's
 * processing job in the upload request's trace) and carry nothing a person typed.
 */
describe('OpenTelemetry tracing', () => {
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  let db: TestDatabase;
  let dataDir: string;
  const procs: ProductProcess[] = [];
  let url: string;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    db = await createTestDatabase('postgres');
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-tracing-'));
    // A short batch delay: spans reach the collector soon after they end.
    const env = { DATABASE_URL: db.url, DATA_DIR: dataDir, SWEEP_INTERVAL_MINUTES: '0', WORKER_CONCURRENCY: '1', OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_BSP_SCHEDULE_DELAY: '100' };
    const api = await startApi(env);
    procs.push(api.proc);
    url = api.url;
    procs.push(await startWorkerProcess(env));
  }, 240_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGTERM')));
    await db?.close();
    await receiver?.close();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('exports request, operation and job spans, linked from the upload to its processing, with no personal values', { timeout: 180_000 }, async () => {
    const api = apiClient(url);
    const email = 'ottoline.tracing-person@example.com';
    const personName = 'Perpetua Hollingsworth-Vane';
    const filename = 'grandmas-orchard-secret.jpg';
    const token = await api.signUp(email);
    const chestId = await api.createChest(token, personName);
    const named = await api.gql(`query TracedChest($id: ID!) { chest(id: $id) { personName } }`, { id: chestId }, token);
    expect(named.data?.chest.personName).toBe(personName);
    const missing = await api.gql(`query TracedMissing($id: ID!) { chest(id: $id) { id } }`, { id: '00000000-0000-4000-8000-000000000000' }, token);
    expect(missing.errors?.[0]?.extensions?.code).toBe('NOT_FOUND');

    // Over the websocket: a subscription, and a query.
    const ws = api.ws(token);
    const added = api.collect(ws, `subscription MemoryFeed($c: ID!) { memoryAdded(chestId: $c) { id } }`, { c: chestId }, (all) => all.length === 1);
    const socketQuery = await new Promise<unknown>((resolve, reject) => {
      let got: unknown;
      ws.subscribe({ query: `query SocketChest($id: ID!) { chest(id: $id) { personName } }`, variables: { id: chestId } }, { next: (r) => (got = r), error: reject, complete: () => resolve(got) });
    });
    expect((socketQuery as { data?: { chest: { personName: string } } }).data?.chest.personName).toBe(personName);

    // A photo taken at a known place, under a telling filename.
    const latitude = 51.477928;
    const longitude = -0.001545;
    const assetId = await api.upload(token, chestId, await jpegWithExif({ latitude, longitude }), filename, 'image/jpeg');
    expect((await added.done)[0]?.data?.memoryAdded.id).toBe(assetId);
    await eventually(async () => {
      const r = await api.gql(`query AssetDone($id: ID!) { asset(id: $id) { status } }`, { id: assetId }, token);
      return r.data?.asset.status === 'COMPLETE' ? true : undefined;
    }, 90_000, 250);
    await ws.dispose();

    const spans = receiver.spans;
    const find = (match: (s: ReceivedSpan) => boolean) => spans.find(match);
    const named_ = (name: string, service = 'memory-chest-api') => find((s) => s.name === name && s.service === service);
    // The analysis job runs after processing; its span is the last to come.
    await eventually(async () => (named_('job asset.analyse', 'memory-chest-worker') && named_('query TracedChest') && named_('subscription MemoryFeed') ? true : undefined), 60_000, 100);

    // GraphQL over HTTP: an operation span under its request's server span.
    const query = named_('query TracedChest')!;
    expect(query.attributes).toMatchObject({ 'graphql.operation.name': 'TracedChest', 'graphql.operation.type': 'query', 'memory_chest.outcome': 'success', 'memory_chest.graphql.transport': 'http' });
    const request = find((s) => s.spanId === query.parentSpanId)!;
    expect(request).toBeDefined();
    expect(request).toMatchObject({ name: 'POST /graphql', kind: SERVER, traceId: query.traceId, parentSpanId: '' });
    expect(request.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.route': '/graphql', 'http.response.status_code': 200 });
    const failed = named_('query TracedMissing')!;
    expect(failed.attributes).toMatchObject({ 'memory_chest.outcome': 'error', 'memory_chest.graphql.error_codes': ['NOT_FOUND'] });

    // Over the websocket: server spans of their own, by name and type.
    const feed = named_('subscription MemoryFeed')!;
    expect(feed).toMatchObject({ kind: SERVER });
    expect(feed.attributes).toMatchObject({ 'graphql.operation.type': 'subscription', 'memory_chest.outcome': 'success', 'memory_chest.graphql.transport': 'websocket' });
    expect(named_('query SocketChest')?.attributes).toMatchObject({ 'graphql.operation.type': 'query', 'memory_chest.outcome': 'success', 'memory_chest.graphql.transport': 'websocket' });

    // The upload request (route template, never the path with its id) is the parent of its processing job, in the worker process.
    const patch = named_('PATCH /uploads/:id')!;
    expect(patch.attributes).toMatchObject({ 'http.route': '/uploads/:id', 'http.response.status_code': 200 });
    const processJob = named_('job asset.process', 'memory-chest-worker')!;
    expect(processJob).toMatchObject({ kind: CONSUMER, traceId: patch.traceId, parentSpanId: patch.spanId });
    expect(processJob.attributes).toMatchObject({ 'messaging.destination.name': 'asset.process', 'memory_chest.outcome': 'success', 'memory_chest.job.attempt': 1 });
    // What the media step enqueued (the AI step) continues the same trace.
    const analyse = named_('job asset.analyse', 'memory-chest-worker')!;
    expect(analyse).toMatchObject({ traceId: patch.traceId, parentSpanId: processJob.spanId });

    // No raw paths, documents or variables, and none of the values a person gave, in any attribute or anywhere in the export.
    const keys = new Set(spans.flatMap((s) => Object.keys(s.attributes)));
    for (const k of ['url.path', 'url.full', 'url.query', 'graphql.document', 'http.target']) expect(keys.has(k)).toBe(false);
    const exported = receiver.bodies.join('\n').toLowerCase();
    for (const secret of [token, email, 'ottoline', personName, 'Perpetua', filename, 'orchard', String(latitude), String(longitude), '51.47', chestId, assetId]) {
      expect(exported).not.toContain(secret.toLowerCase());
    }
  });

  it('without an endpoint nothing is created: no provider, no exporter, spans are no-ops', () => {
    const settings = loadConfig({}).tracing;
    expect(settings).toEqual({ tracesUrl: null, serviceName: null });
    expect(startTracing({ settings, defaultServiceName: 'memory-chest-api' })).toBeNull();
    expect(tracingOn()).toBe(false);
    const span = trace.getTracer('probe').startSpan('probe');
    expect(span.isRecording()).toBe(false);
    expect(span.spanContext().traceId).toBe('0'.repeat(32));
    span.end();
  });

  it('reads the standard OTEL_* variables and refuses what is not a URL', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' }).tracing.tracesUrl).toBe('http://collector:4318/v1/traces');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://traces.example/otlp' }).tracing.tracesUrl).toBe('https://traces.example/otlp');
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'chest-eu-1' }).tracing.serviceName).toBe('chest-eu-1');
    expect(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' })).toThrow(/OTEL_EXPORTER_OTLP_ENDPOINT/);
  });
});
