/**
 * Issue 14's fan-out goal: one chest, N = 10,000 live graphql-ws subscribers (`--quick`: 1,000),
 * against a bare `ws` server broadcasting the same bytes to N bare `ws` clients.
 *
 * Four processes besides this one: the app (served mode: PostgreSQL, the LISTEN/NOTIFY bus;
 * bench/fanout/app-server.ts), the raw ws server (bench/fanout/raw-server.ts), and one client
 * process for each (bench/fanout/clients.ts), so each server's time and memory are its own.
 * Half the app's subscribers are signed in as the chest's owner, half use its view link; each
 * passes the access check when it subscribes and again (once per distinct viewer) at every event.
 *
 * (a) Per event, publish to last delivery: from just before emitChestEvent (the event's own
 *     transaction, NOTIFY, LISTEN, the per-event access check, execution, N sends) to the moment
 *     the N-th client has it, on one clock (performance.timeOrigin + now()); the raw server's from
 *     just before its first send. Interleaved rounds (app, raw / raw, app), p50 and p99 of each and
 *     their ratio. Every client must get every event exactly once, in order, or the run fails.
 * (b) Idle memory per subscriber: each server's RSS and heap after two GCs, with N connected,
 *     subscribed and idle, less the same before any client came, divided by N.
 *
 *   npx tsx bench/fanout-10k.ts [--quick] [--profile]   (--profile: CPU profile of the app's
 *   event rounds and heap snapshots of the app before any client and idle, written under /tmp)
 */
import { type ChildProcess, fork, spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemoryReport } from './fanout/clock.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SUBSCRIPTION = `subscription($c: ID!) { assetProcessing(chestId: $c) { seq stage percent status error asset { id } } }`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Child {
  name: string;
  proc: ChildProcess;
  /** The next message with this cmd. */
  next<T = Record<string, unknown>>(cmd: string, timeoutMs?: number): Promise<T>;
  ask<T = Record<string, unknown>>(msg: Record<string, unknown>, reply: string, timeoutMs?: number): Promise<T>;
  /** `all` messages from a client process, by seq. */
  all: Map<number, { first: number; last: number }>;
}

/**
 * The app runs compiled by tsc, as `npm start` runs it: under tsx every function would carry the
 * name esbuild's keepNames defines on it (a property dictionary of its own, ~300 bytes for each of
 * a socket's closures), which the shipped build does not have. Compiled into .bench-build/.
 */
function compileApp(): void {
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'bench/build/tsconfig.json')], { stdio: 'inherit' });
  if (tsc.status !== 0) throw new Error('tsc could not compile the fan-out app (bench/build/tsconfig.json)');
}

function start(name: string, script: string, args: string[] = [], { compiled = false } = {}): Child {
  const proc = compiled
    ? fork(join(ROOT, '.bench-build', script.replace(/\.ts$/, '.js')), args, { execArgv: ['--expose-gc'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    : fork(join(ROOT, script), args, { execArgv: ['--import', 'tsx', '--expose-gc'], cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const waiting = new Map<string, ((m: Record<string, unknown>) => void)[]>();
  const all = new Map<number, { first: number; last: number }>();
  const allWaiters = new Map<number, () => void>();
  proc.on('message', (m: Record<string, unknown>) => {
    if (m.cmd === 'all') {
      all.set(m.seq as number, { first: m.first as number, last: m.last as number });
      allWaiters.get(m.seq as number)?.();
      return;
    }
    const q = waiting.get(m.cmd as string);
    q?.shift()?.(m);
  });
  let exited: string | null = null;
  proc.on('exit', (code, signal) => {
    exited = `${name} exited (${code ?? signal})`;
  });
  const next = <T>(cmd: string, timeoutMs = 600_000): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      if (exited) return reject(new Error(exited));
      const timer = setTimeout(() => reject(new Error(`${name}: no '${cmd}' in ${timeoutMs} ms`)), timeoutMs);
      const onExit = () => reject(new Error(exited ?? `${name} exited`));
      proc.once('exit', onExit);
      let q = waiting.get(cmd);
      if (!q) waiting.set(cmd, (q = []));
      q.push((m) => {
        clearTimeout(timer);
        proc.off('exit', onExit);
        resolve(m as T);
      });
    });
  const child: Child = {
    name,
    proc,
    next,
    all,
    ask: <T>(msg: Record<string, unknown>, reply: string, timeoutMs?: number) => {
      const p = next<T>(reply, timeoutMs);
      proc.send(msg);
      return p;
    },
  };
  (child as Child & { waitAll: (seq: number, ms: number) => Promise<{ first: number; last: number }> }).waitAll = (seq, ms) =>
    new Promise((resolve, reject) => {
      const have = all.get(seq);
      if (have) return resolve(have);
      const timer = setTimeout(() => {
        allWaiters.delete(seq);
        reject(new Error(`${name}: seq ${seq} not at every client in ${ms} ms`));
      }, ms);
      allWaiters.set(seq, () => {
        clearTimeout(timer);
        allWaiters.delete(seq);
        resolve(all.get(seq)!);
      });
    });
  return child;
}
const waitAll = (c: Child, seq: number, ms = 60_000) => (c as Child & { waitAll: (seq: number, ms: number) => Promise<{ first: number; last: number }> }).waitAll(seq, ms);

async function stop(c: Child | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null) return;
  const gone = new Promise((resolve) => c.proc.once('exit', resolve));
  c.proc.send({ cmd: 'stop' });
  await Promise.race([gone, sleep(15_000)]);
  if (c.proc.exitCode === null) c.proc.kill('SIGKILL');
}

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};
const KiB = (bytes: number) => bytes / 1024;

interface Status {
  live: number;
  failures: string[];
  sample: string | null;
  pending: { seq: number; count: number }[];
}

export interface FanoutResult {
  subscribers: number;
  events: number;
  load: string;
  app: { p50: number; p99: number; max: number; mean: number; emitP50: number; spreadP50: number };
  raw: { p50: number; p99: number; max: number; mean: number; spreadP50: number };
  ratio: { p50: number; p99: number; mean: number };
  memory: {
    /** PerSub: (idle − before any client) / N. PerExtraSub: (idle − idle with the first half) / the second half. */
    app: { rssPerSub: number; heapPerSub: number; heapTotalPerSub: number; rssPerExtraSub: number; heapPerExtraSub: number; maxRss: number };
    raw: { rssPerSub: number; heapPerSub: number; heapTotalPerSub: number; rssPerExtraSub: number; heapPerExtraSub: number; maxRss: number };
    ratio: { rss: number; heap: number; rssPerExtra: number; heapPerExtra: number };
  };
  executionsPerEvent: number;
  connectSeconds: { app: number; raw: number };
}

export async function run({ quick = process.argv.includes('--quick'), profile = process.argv.includes('--profile') } = {}): Promise<FanoutResult> {
  const n = quick ? 1_000 : 10_000;
  const WARMUP = quick ? 3 : 5;
  const EVENTS = quick ? 15 : 40;
  const children: Child[] = [];
  try {
    compileApp();
    const app = start('app', 'bench/fanout/app-server.ts', [], { compiled: true });
    children.push(app);
    const appReady = await app.next<{ url: string; token: string; shareToken: string; chestId: string; memory: MemoryReport }>('ready');
    const raw = start('raw', 'bench/fanout/raw-server.ts', [], { compiled: true });
    children.push(raw);
    const rawReady = await raw.next<{ url: string; memory: MemoryReport }>('ready');
    await sleep(1000);
    const appBase = (await app.ask<{ memory: MemoryReport }>({ cmd: 'memory' }, 'memory')).memory;
    const rawBase = (await raw.ask<{ memory: MemoryReport }>({ cmd: 'memory' }, 'memory')).memory;
    // The same snapshot before any client came: what idle subscribers hold is the difference.
    if (profile) await app.ask({ cmd: 'heap-snapshot', file: '/tmp/fanout-app-base.heapsnapshot' }, 'heap-snapshot');

    const opts = (o: object) => [JSON.stringify(o)];
    // Half the clients first, measured idle, then the rest: the difference is what one more
    // subscriber costs, without what a process spends once (code compiled on first use, the
    // young generation grown by the connection burst), which "less the base" divides by N.
    const half = Math.floor(n / 2 / 100) * 100;
    const appClients = start('app clients', 'bench/fanout/clients.ts', opts({ mode: 'graphql', url: appReady.url, n, token: appReady.token, shareToken: appReady.shareToken, chestId: appReady.chestId, query: SUBSCRIPTION, pauseAt: half }));
    children.push(appClients);
    // graphql-ws does not say when a subscription runs on the server: publish until every client has had an event.
    const emitApp = async () => {
      const e = await app.ask<{ seq: number; t0: number; t1: number }>({ cmd: 'emit' }, 'emitted');
      return e;
    };
    const deadline = Date.now() + 300_000;
    let status: Status | null = null;
    const untilLive = async (count: number) => {
      for (;;) {
        await emitApp();
        await sleep(500);
        status = await appClients.ask<Status>({ cmd: 'status' }, 'status');
        if (status.failures.length) throw new Error(`app clients: ${status.failures.join('; ')}`);
        if (status.live === count) return;
        if (Date.now() > deadline) throw new Error(`only ${status.live} of ${count} subscriptions became live`);
      }
    };
    await appClients.next('paused', 300_000);
    await untilLive(half);
    await sleep(3000);
    const appHalf = (await app.ask<{ memory: MemoryReport }>({ cmd: 'memory' }, 'memory')).memory;
    appClients.proc.send({ cmd: 'resume' });
    const appConnected = await appClients.next<{ ms: number }>('connected');
    const rawClients = start('raw clients', 'bench/fanout/clients.ts', opts({ mode: 'raw', url: rawReady.url, n, pauseAt: half }));
    children.push(rawClients);
    await rawClients.next('paused', 300_000);
    await sleep(3000);
    const rawHalf = (await raw.ask<{ memory: MemoryReport }>({ cmd: 'memory' }, 'memory')).memory;
    rawClients.proc.send({ cmd: 'resume' });
    const rawConnected = await rawClients.next<{ ms: number }>('connected');
    console.log(`\nfanout-10k: ${n} subscribers connected (app ${(appConnected.ms / 1000).toFixed(1)} s, raw ${(rawConnected.ms / 1000).toFixed(1)} s, each with a pause at ${half})`);

    await untilLive(n);
    await sleep(2000);
    const template = (status as Status | null)!.sample!;
    const rawText = (seq: number) => template.replace(/"seq":\d+/, `"seq":${seq}`);

    // (b) idle: connected, subscribed, idle.
    await sleep(3000);
    const appIdle = (await app.ask<{ memory: MemoryReport; stats: { executed: number } }>({ cmd: 'memory' }, 'memory')).memory;
    const rawIdle = (await raw.ask<{ memory: MemoryReport }>({ cmd: 'memory' }, 'memory')).memory;
    if (profile) {
      const snap = await app.ask<{ file: string }>({ cmd: 'heap-snapshot', file: '/tmp/fanout-app-idle.heapsnapshot' }, 'heap-snapshot');
      console.log(`  heap snapshot of the idle app: ${snap.file}`);
    }

    // (a) interleaved rounds.
    const appMs: number[] = [];
    // Each measured event's parts, to tell a slow event's cause: the emit, until the first client has it, first to last.
    const appEvents: { total: number; emit: number; toFirst: number; spread: number }[] = [];
    const rawEvents: typeof appEvents = [];
    const rawMs: number[] = [];
    const emitMs: number[] = [];
    const appSpread: number[] = [];
    const rawSpread: number[] = [];
    let rawSeq = 1_000_000;
    const before = (await app.ask<{ stats: { executed: number } }>({ cmd: 'memory', collect: false }, 'memory')).stats.executed;
    const appRound = async (measured: boolean) => {
      const e = await emitApp();
      const a = await waitAll(appClients, e.seq);
      if (measured) {
        appMs.push(a.last - e.t0);
        appEvents.push({ total: a.last - e.t0, emit: e.t1 - e.t0, toFirst: a.first - e.t0, spread: a.last - a.first });
        emitMs.push(e.t1 - e.t0);
        appSpread.push(a.last - a.first);
      }
    };
    const rawRound = async (measured: boolean) => {
      const seq = rawSeq++;
      const e = await raw.ask<{ t0: number }>({ cmd: 'emit', text: rawText(seq) }, 'emitted');
      const a = await waitAll(rawClients, seq);
      if (measured) {
        rawMs.push(a.last - e.t0);
        rawEvents.push({ total: a.last - e.t0, emit: 0, toFirst: a.first - e.t0, spread: a.last - a.first });
        rawSpread.push(a.last - a.first);
      }
    };
    process.stdout.write(`  ${WARMUP} warm-up and ${EVENTS} measured events each, interleaved `);
    for (let r = 0; r < WARMUP + EVENTS; r++) {
      const measured = r >= WARMUP;
      if (r % 2 === 0) {
        await appRound(measured);
        await sleep(50);
        await rawRound(measured);
      } else {
        await rawRound(measured);
        await sleep(50);
        await appRound(measured);
      }
      await sleep(50);
      if (r % 5 === 0) process.stdout.write('.');
    }
    process.stdout.write('\n');
    const afterStats = await app.ask<{ memory: MemoryReport; stats: { executed: number } }>({ cmd: 'memory', collect: false }, 'memory');
    const executionsPerEvent = (afterStats.stats.executed - before) / (WARMUP + EVENTS);
    for (const c of [appClients, rawClients]) {
      const s = await c.ask<Status>({ cmd: 'status' }, 'status');
      if (s.failures.length) throw new Error(`${c.name}: ${s.failures.join('; ')}`);
      if (s.pending.length) throw new Error(`${c.name}: events not at every client: ${JSON.stringify(s.pending.slice(0, 5))}`);
    }

    if (profile) {
      await app.ask({ cmd: 'profile-start' }, 'profiling');
      for (let r = 0; r < 20; r++) {
        await appRound(false);
        await sleep(50);
      }
      const p = await app.ask<{ file: string }>({ cmd: 'profile-stop', file: '/tmp/fanout-app.cpuprofile' }, 'profiled');
      console.log(`  CPU profile of 20 app events: ${p.file}`);
    }
    const appEnd = (await app.ask<{ memory: MemoryReport }>({ cmd: 'memory', collect: false }, 'memory')).memory;
    const rawEnd = (await raw.ask<{ memory: MemoryReport }>({ cmd: 'memory', collect: false }, 'memory')).memory;
    const load = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');

    const stats = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs), mean: xs.reduce((a, b) => a + b, 0) / xs.length });
    const a = stats(appMs);
    const w = stats(rawMs);
    const perSub = (idle: MemoryReport, base: MemoryReport) => ({ rssPerSub: KiB(idle.rss - base.rss) / n, heapPerSub: KiB(idle.heapUsed - base.heapUsed) / n, heapTotalPerSub: KiB(idle.heapTotal - base.heapTotal) / n });
    const marginal = (idle: MemoryReport, at: MemoryReport) => ({ rssPerExtraSub: KiB(idle.rss - at.rss) / (n - half), heapPerExtraSub: KiB(idle.heapUsed - at.heapUsed) / (n - half) });
    const am = { ...perSub(appIdle, appBase), ...marginal(appIdle, appHalf), maxRss: appEnd.maxRss / 2 ** 20 };
    const rm = { ...perSub(rawIdle, rawBase), ...marginal(rawIdle, rawHalf), maxRss: rawEnd.maxRss / 2 ** 20 };
    const result: FanoutResult = {
      subscribers: n,
      events: EVENTS,
      load,
      app: { ...a, emitP50: quantile(emitMs, 0.5), spreadP50: quantile(appSpread, 0.5) },
      raw: { ...w, spreadP50: quantile(rawSpread, 0.5) },
      ratio: { p50: a.p50 / w.p50, p99: a.p99 / w.p99, mean: a.mean / w.mean },
      memory: {
        app: am,
        raw: rm,
        ratio: { rss: am.rssPerSub / rm.rssPerSub, heap: am.heapPerSub / rm.heapPerSub, rssPerExtra: am.rssPerExtraSub / rm.rssPerExtraSub, heapPerExtra: am.heapPerExtraSub / rm.heapPerExtraSub },
      },
      executionsPerEvent,
      connectSeconds: { app: appConnected.ms / 1000, raw: rawConnected.ms / 1000 },
    };
    const f = (x: number, d = 1) => x.toFixed(d);
    console.log(`fanout-10k: one event to ${n} subscribers of one chest (served mode, LISTEN/NOTIFY), ${EVENTS} events each, load ${load}`);
    console.table({
      'app (graphql-ws)': { 'p50 ms': f(a.p50), 'p99 ms': f(a.p99), 'max ms': f(a.max), 'first→last ms (p50)': f(result.app.spreadP50), 'emit ms (p50)': f(result.app.emitP50), 'RSS KiB/sub': f(am.rssPerSub), 'heap KiB/sub': f(am.heapPerSub), 'heap committed KiB/sub': f(am.heapTotalPerSub), 'RSS KiB/extra sub': f(am.rssPerExtraSub), 'heap KiB/extra sub': f(am.heapPerExtraSub), 'peak RSS MiB': f(am.maxRss, 0) },
      'raw ws': { 'p50 ms': f(w.p50), 'p99 ms': f(w.p99), 'max ms': f(w.max), 'first→last ms (p50)': f(result.raw.spreadP50), 'emit ms (p50)': '-', 'RSS KiB/sub': f(rm.rssPerSub), 'heap KiB/sub': f(rm.heapPerSub), 'heap committed KiB/sub': f(rm.heapTotalPerSub), 'RSS KiB/extra sub': f(rm.rssPerExtraSub), 'heap KiB/extra sub': f(rm.heapPerExtraSub), 'peak RSS MiB': f(rm.maxRss, 0) },
      ratio: { 'p50 ms': f(result.ratio.p50, 2), 'p99 ms': f(result.ratio.p99, 2), 'max ms': f(a.max / w.max, 2), 'first→last ms (p50)': '', 'emit ms (p50)': '', 'RSS KiB/sub': f(result.memory.ratio.rss, 2), 'heap KiB/sub': f(result.memory.ratio.heap, 2), 'heap committed KiB/sub': '', 'RSS KiB/extra sub': f(result.memory.ratio.rssPerExtra, 2), 'heap KiB/extra sub': f(result.memory.ratio.heapPerExtra, 2), 'peak RSS MiB': '' },
    });
    const slowest = (xs: typeof appEvents) => {
      const e = xs.reduce((m, x) => (x.total > m.total ? x : m));
      return `${f(e.total)} ms (emit ${f(e.emit)}, to the first client ${f(e.toFirst)}, first to last ${f(e.spread)})`;
    };
    console.log(`Slowest event: app ${slowest(appEvents)}; raw ${slowest(rawEvents)}.`);
    console.log(`Executions per event: ${f(executionsPerEvent, 2)} (2 distinct viewers: owner and view link). Goals: p99 ≤ 1.5× raw (${result.ratio.p99 <= 1.5 ? 'met' : 'not met'}), idle RSS per subscriber ≤ 2× raw (${result.memory.ratio.rss <= 2 ? 'met' : 'not met'} over all N; ${result.memory.ratio.rssPerExtra <= 2 ? 'met' : 'not met'} per extra subscriber, second half against first).`);

    const resultsPath = join(ROOT, 'bench/results.json');
    let all: Record<string, unknown> = {};
    try {
      all = JSON.parse(await readFile(resultsPath, 'utf8')) as Record<string, unknown>;
    } catch {
      // first run
    }
    all[quick ? 'fanout-10k-quick' : 'fanout-10k'] = result;
    await writeFile(resultsPath, `${JSON.stringify(all, null, 2)}\n`);
    return result;
  } finally {
    for (const c of children.reverse()) await stop(c);
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await run();
  process.exit(0);
}
