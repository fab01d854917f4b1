/**
 * Time to refuse the hostile documents of issue 10 against a trivial `{ __typename }` answered in
 * full, over HTTP and over graphql-ws, on the served app (PostgreSQL) in this process: each round
 * sends every document once (interleaved, so load on the machine hits all alike) and records the
 * round trip and the longest event-loop stall meanwhile (perf_hooks monitorEventLoopDelay, which
 * sees the server's work because the server runs on this loop). Reports medians with min–max.
 * It also times the precheck alone at the largest length and token settings config accepts, with
 * the slowest documents to read at those caps, and, for scale, graphql-js `validate` alone (what
 * ran before the precheck) on smaller copies of the repeated-field document.
 */
import 'reflect-metadata';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parse, validate } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { precheck } from '../src/graphql/limits/precheck.js';
import { createSchema } from '../src/graphql/schema.js';
import { startTestServer } from '../test/support/server.js';

const ROUNDS = 15;
const WARMUP = 2;
const rep = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(' ');
const ID = '00000000-0000-0000-0000-000000000000';
const NESTED = `id personName myRole heroImage { id filename } members { role account { displayName } } links { shareLinkActive }
  assets(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { id filename location { latitude } tags { name } } } }
  images: assets(first: 5, types: [IMAGE]) { totalCount edges { node { id } } } stories { edges { node { id title timeline { date } } } }
  contributions { edges { node { id status } } } summary { totalAssets images totalBytes recentAssets { id location { latitude } } }`;

const DOCS: Record<string, string> = {
  'trivial { __typename }': '{ __typename }',
  '{ __typename ×32,000 } (352 KB)': `{ ${'__typename '.repeat(32_000)}}`,
  '1,000 aliases of the nested chest query': `{ ${rep(1000, (i) => `c${i}: chest(id: "${ID}") { ${NESTED} }`)} }`,
  '2,000 aliased chestEvents': `subscription { ${rep(2000, (i) => `e${i}: chestEvents(chestId: "${ID}") { lastSeq }`)} }`,
  'depth 5,000': `{${'chest(id: "x") {'.repeat(5000)}id${'}'.repeat(5000)}}`,
  'fragment bomb (2^30 from 1 KB)': `${rep(30, (k) => `fragment F${k} on Query { ...F${k + 1} ...F${k + 1} }`)} fragment F30 on Query { __typename } { ...F0 }`,
  'just under the body limit (990 KB)': `{ ${'__typename '.repeat(90_000)}}`,
  '{ __typename ×1,900 } (under the token limit)': `{ ${'__typename '.repeat(1_900)}}`,
};

interface Sample {
  ms: number;
  stallMs: number;
}

/** One request, timed, with the longest event-loop stall while it ran. */
async function timed(send: () => Promise<unknown>): Promise<Sample> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t = performance.now();
  await send();
  const ms = performance.now() - t;
  // One more turn of the loop so a stall at the very end is recorded.
  await new Promise((r) => setImmediate(r));
  h.disable();
  return { ms, stallMs: h.max / 1e6 };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const fmt = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;

function overSocket(client: Client, query: string): Promise<unknown> {
  return new Promise((resolve) => client.subscribe({ query }, { next: () => undefined, error: resolve, complete: () => resolve(null) }));
}

export async function run(): Promise<void> {
  const server = await startTestServer();
  const url = `${server.app.url()}/graphql`;
  const client = createClient({ url: url.replace(/^http/, 'ws'), webSocketImpl: WebSocket, retryAttempts: 0, lazy: false });
  const post = async (query: string) => {
    const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query }) });
    const body = (await res.json()) as { errors?: { extensions?: { code?: string; limit?: string } }[] };
    return body.errors?.[0]?.extensions;
  };
  try {
    const names = Object.keys(DOCS);
    const outcome = new Map<string, string>();
    const http = new Map<string, Sample[]>(names.map((n) => [n, []]));
    const ws = new Map<string, Sample[]>(names.map((n) => [n, []]));
    for (let round = 0; round < WARMUP + ROUNDS; round++) {
      for (const name of names) {
        const query = DOCS[name]!;
        let answer: unknown;
        const h = await timed(async () => (answer = await post(query)));
        const w = await timed(() => overSocket(client, query));
        if (round < WARMUP) continue;
        http.get(name)!.push(h);
        ws.get(name)!.push(w);
        const a = answer as { code?: string; limit?: string } | undefined;
        outcome.set(name, a ? `${a.code}${a.limit ? ` (${a.limit})` : ''}` : 'answered');
      }
    }
    console.log(`\nquery limits: ${ROUNDS} interleaved rounds on the served app; ms, median (min–max)`);
    console.log('| Document | Answer | HTTP round trip | HTTP longest stall | graphql-ws round trip | graphql-ws longest stall |');
    console.log('|---|---|---|---|---|---|');
    for (const name of names) {
      const h = http.get(name)!;
      const w = ws.get(name)!;
      console.log(`| ${name} | ${outcome.get(name)} | ${fmt(h.map((s) => s.ms))} | ${fmt(h.map((s) => s.stallMs))} | ${fmt(w.map((s) => s.ms))} | ${fmt(w.map((s) => s.stallMs))} |`);
    }

    // The same documents, and the slowest ones to read, against the largest settings config
    // accepts (GRAPHQL_MAX_LENGTH=200000, GRAPHQL_MAX_TOKENS=10000): still well under 100 ms.
    const schema = await createSchema();
    const widest = { ...server.config.graphql.limits, length: 200_000, tokens: 10_000 };
    const slowest: Record<string, string> = {
      ...DOCS,
      '9,990 distinct fields (at the token cap)': `{ ${rep(9_990, (i) => `f${i}`)} }`,
      'a 200 KB block string of short lines (at the length cap)': `{ f(a: ${'"'.repeat(3)}${'x\n'.repeat(99_980)}${'"'.repeat(3)}) }`,
    };
    console.log('\nprecheck() alone at the largest settings config accepts, ms, median (min–max) of 5:');
    for (const name of Object.keys(slowest).slice(1)) {
      const times: number[] = [];
      let outcome: unknown;
      for (let i = 0; i < 5; i++) {
        const t = performance.now();
        const r = precheck({ schema, limits: widest, maxPageSize: server.config.maxPageSize, query: slowest[name]! });
        times.push(performance.now() - t);
        outcome = r.ok ? 'passed on to validation' : `refused (${String(r.error.extensions.limit)})`;
      }
      console.log(`  ${name}: ${fmt(times)}, ${String(outcome)}`);
    }

    // What the repeated-field document cost before: validation alone, growing with the square.
    console.log('\ngraphql-js validate() alone on { __typename ×n } (no precheck), ms, median of 3:');
    for (const n of [2_000, 4_000, 8_000]) {
      const doc = parse(`{ ${'__typename '.repeat(n)}}`);
      const times = [0, 1, 2].map(() => {
        const t = performance.now();
        validate(schema, doc);
        return performance.now() - t;
      });
      console.log(`  n = ${n}: ${median(times).toFixed(0)}`);
    }
  } finally {
    await client.dispose();
    await server.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run();
  process.exit(0);
}
