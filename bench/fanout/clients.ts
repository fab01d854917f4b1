/**
 * N WebSocket clients of bench/fanout-10k.ts, in their own process so the server is measured
 * alone. `graphql` mode speaks graphql-transport-ws by hand on bare `ws` sockets (the same client
 * cost as `raw` mode: one JSON.parse per message), half signed in as the owner and half with the
 * chest's view link; `raw` mode only listens. Each message's `seq` is counted; when all N clients
 * have one, the parent hears `all` with the first and last arrival times. A client that misses a
 * seq, sees one twice or out of order, or gets an error or complete, is a failure reported as such.
 */
import WebSocket from 'ws';
import { now } from './clock.js';

interface Options {
  mode: 'graphql' | 'raw';
  url: string;
  n: number;
  token?: string;
  shareToken?: string;
  chestId?: string;
  query?: string;
  /** Stop after this many connections, say `paused`, and go on at `resume` (the bench measures memory there). */
  pauseAt?: number;
}
const o = JSON.parse(process.argv[2]!) as Options;
const send = (m: unknown) => process.send!(m);

const sockets: WebSocket[] = [];
const lastSeq = new Int32Array(o.n).fill(-1);
const perSeq = new Map<number, { count: number; first: number; last: number }>();
let live = 0;
let failures: string[] = [];
let sample: string | null = null;
let closing = false;

const fail = (i: number, why: string) => {
  if (failures.length < 20) failures.push(`client ${i}: ${why}`);
  else if (failures.length === 20) failures.push('…');
};

function arrived(i: number, seq: number, text: string) {
  const t = now();
  if (lastSeq[i] === -1) {
    live++;
    sample ??= text;
  } else if (seq <= lastSeq[i]!) fail(i, `seq ${seq} after ${lastSeq[i]}`);
  lastSeq[i] = seq;
  let s = perSeq.get(seq);
  if (!s) perSeq.set(seq, (s = { count: 0, first: t, last: t }));
  s.count++;
  s.last = t;
  if (s.count === o.n) {
    send({ cmd: 'all', seq, first: s.first, last: s.last });
    perSeq.delete(seq);
  }
}

function open(i: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = o.mode === 'graphql' ? new WebSocket(o.url, 'graphql-transport-ws') : new WebSocket(o.url);
    sockets[i] = ws;
    ws.once('error', reject);
    ws.on('close', (code, reason) => {
      if (!closing) fail(i, `closed ${code} ${String(reason)}`);
    });
    if (o.mode === 'raw') {
      ws.once('open', () => resolve());
      ws.on('message', (data) => {
        const text = String(data);
        arrived(i, (JSON.parse(text) as { payload: { data: { assetProcessing: { seq: number } } } }).payload.data.assetProcessing.seq, text);
      });
      return;
    }
    ws.once('open', () => {
      const payload = i % 2 === 0 ? { authorization: `Bearer ${o.token}` } : { shareToken: o.shareToken };
      ws.send(JSON.stringify({ type: 'connection_init', payload }));
    });
    ws.on('message', (data) => {
      const text = String(data);
      const m = JSON.parse(text) as { type: string; payload?: { data?: { assetProcessing: { seq: number } }; errors?: unknown } };
      if (m.type === 'connection_ack') {
        ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: o.query, variables: { c: o.chestId } } }));
        resolve();
      } else if (m.type === 'next') {
        if (m.payload?.errors || !m.payload?.data) fail(i, `errors ${JSON.stringify(m.payload?.errors)}`);
        else arrived(i, m.payload.data.assetProcessing.seq, text);
      } else if (m.type === 'ping') ws.send('{"type":"pong"}');
      else if (m.type === 'error' || m.type === 'complete') fail(i, `${m.type} ${JSON.stringify(m.payload)}`);
    });
  });
}

let resume: (() => void) | null = null;
process.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'resume') {
    // Events sent while only the first clients were connected can never reach all of them.
    perSeq.clear();
    resume?.();
  }
  else if (m.cmd === 'status') {
    send({ cmd: 'status', live, failures, sample, pending: [...perSeq].map(([seq, s]) => ({ seq, count: s.count })) });
    failures = failures.length ? failures : [];
  } else if (m.cmd === 'stop') {
    closing = true;
    for (const ws of sockets) ws?.terminate();
    process.exit(0);
  }
});

const BATCH = 100;
const t0 = now();
for (let i = 0; i < o.n; i += BATCH) {
  if (o.pauseAt !== undefined && i === o.pauseAt) {
    const resumed = new Promise<void>((r) => (resume = r));
    send({ cmd: 'paused', count: i });
    await resumed;
  }
  await Promise.all(Array.from({ length: Math.min(BATCH, o.n - i) }, (_, k) => open(i + k)));
}
send({ cmd: 'connected', ms: now() - t0 });
