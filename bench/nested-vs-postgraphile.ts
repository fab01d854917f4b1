/**
 * Issue 14's nested-query benchmark: our served app (built and started the way `npm start` does,
 * PostgreSQL mode, as a child process) against PostGraphile V5 on the same tables and against a
 * bare `pg` + node:http server running the statements our app runs and answering the same JSON;
 * and `{ __typename }` (anonymous and signed in) against bare graphql-js `execute` on node:http.
 *
 * It seeds its own database (dropped at the end), checks that every server returns the same rows
 * before measuring (and fails if not), runs interleaved rounds of a fixed number of requests at a
 * fixed concurrency, and writes bench/results.json and its section of BENCHMARKS.md.
 *
 *   npm run bench                     every benchmark (this one in full)
 *   npm run bench -- --quick          fewer sizes, rounds and requests
 *   npx tsx bench/nested-vs-postgraphile.ts [--quick] [--ref <commit>] [--profile [--size 10|100|1000]]
 *
 * --ref builds our app from that commit (git archive) instead of the working tree, so helpers'
 * unfinished edits are not measured. --profile only records a CPU profile of our app answering the
 * 100-asset query (node --cpu-prof) and prints its top stacks.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { seedDatabase, type Seeded } from './nested/seed.js';
import { summariseProfile } from './nested/profile.js';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const CONCURRENCY = 8;
const POOL_MAX = 10; // our app's DB_POOL_MAX default; every server gets the same pool size
const SECRET_KEY = 'bench-secret-key-of-at-least-32-characters';

interface Plan {
  quick: boolean;
  sizes: number[];
  rounds: number;
  /** Requests per round of the nested query, by chest size. */
  requests: (size: number) => number;
  trivialRequests: number;
}

const FULL: Plan = { quick: false, sizes: [10, 100, 1000], rounds: 7, requests: (n) => (n <= 10 ? 300 : 150), trivialRequests: 2000 };
const QUICK: Plan = { quick: true, sizes: [10, 100], rounds: 3, requests: (n) => (n <= 10 ? 150 : 80), trivialRequests: 800 };

/** Our query, and the same selection in PostGraphile's schema (aliased to our field names). */
const OURS = `query($id: ID!) { chest(id: $id) { id personName summary { totalAssets images totalBytes }
  assets(first: 100) { edges { node { id filename dateTaken status tags { name source confidence } thumbnails { name width height mimeType } } } }
  stories { edges { node { id title status } } } contributions { edges { node { id contributorName status } } } } }`;
const THEIRS = `query($id: UUID!) { chest: chestByRowId(rowId: $id) { id: rowId personName totalBytes
  all: assetsByChestId(condition: { deletedAt: null }) { totalCount }
  images: assetsByChestId(condition: { deletedAt: null, fileType: "IMAGE" }) { totalCount }
  assets: assetsByChestId(first: 100, condition: { deletedAt: null }, orderBy: [DATE_TAKEN_DESC, CREATED_AT_DESC, ROW_ID_DESC]) {
    edges { node { id: rowId filename dateTaken status tags thumbnails } } }
  stories: storiesByChestId(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { id: rowId title status } } }
  contributions: contributionsByChestId(first: 20, orderBy: [CREATED_AT_DESC, ROW_ID_DESC]) { edges { node { id: rowId contributorName status } } } } }`;
const TYPENAME = '{ __typename }';
const POSTGRAPHILE = `PostGraphile ${(JSON.parse(readFileSync(join(ROOT, 'node_modules/postgraphile/package.json'), 'utf8')) as { version: string }).version}`;

// ---------------------------------------------------------------------------------------------
// Child processes

interface Child {
  name: string;
  port: number;
  proc: ChildProcess;
  stderr: string[];
}

async function freePort(): Promise<number> {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}

async function startChild(name: string, args: string[], env: Record<string, string>, cwd = ROOT): Promise<Child> {
  const port = await freePort();
  const proc = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => {
    stderr.push(String(d));
    if (stderr.length > 50) stderr.shift();
  });
  const child = { name, port, proc, stderr };
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${stderr.join('')}`);
    try {
      const r = await post(child, TYPENAME, {}, {}, undefined);
      if (r.status === 200) return child;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${name} did not answer within 180 s:\n${stderr.join('')}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopChild(child: Child | undefined): Promise<void> {
  if (!child || child.proc.exitCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 15_000);
  await once(child.proc, 'exit');
  clearTimeout(timer);
}

/** Compiles our app like `npm run build` (tsc -p tsconfig.build.json), into a folder of its own. */
async function buildApp(ref: string | null): Promise<{ dir: string; main: string; describe: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'dmc-bench-app-'));
  // dist/ in the checkout is left alone; the build resolves packages through this link.
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
  let describe: string;
  if (ref) {
    const tree = join(dir, 'tree');
    await mkdir(tree);
    const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: ROOT, encoding: 'utf8' }).trim();
    execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C ${JSON.stringify(tree)}`], { cwd: ROOT });
    await symlink(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    execFileSync(process.execPath, [tsc, '-p', join(tree, 'tsconfig.build.json'), '--outDir', join(dir, 'out')], { cwd: tree, stdio: 'inherit' });
    describe = `commit ${commit}`;
  } else {
    execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', join(dir, 'out')], { cwd: ROOT, stdio: 'inherit' });
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: ROOT, encoding: 'utf8' }).trim() !== '';
    describe = `working tree at ${head}${dirty ? ' with uncommitted changes under src/ or migrations/' : ''}`;
  }
  return { dir, main: join(dir, 'out/src/main.js'), describe };
}

/** Runs the built app's migrations (its src/db/orm.js) on a database. */
async function migrateWith(dir: string, url: string): Promise<void> {
  type Orm = { close(force?: boolean): Promise<void> };
  const orm = (await import(pathToFileURL(join(dir, 'out/src/db/orm.js')).href)) as {
    openOrm(o: { clientUrl: string; poolMax: number }): Promise<Orm>;
    migrate(o: Orm): Promise<string[]>;
  };
  const opened = await orm.openOrm({ clientUrl: url, poolMax: 1 });
  try {
    await orm.migrate(opened);
  } finally {
    await opened.close(true);
  }
}

function appEnv(seeded: Seeded, dataDir: string): Record<string, string> {
  return { DATABASE_URL: seeded.url, SECRET_KEY, HOST: '127.0.0.1', DATA_DIR: dataDir, DB_POOL_MAX: String(POOL_MAX), NODE_ENV: 'production' };
}

// ---------------------------------------------------------------------------------------------
// HTTP load

const agents = new Map<number, http.Agent>();

function post(child: Child, query: string, variables: Record<string, unknown>, headers: Record<string, string>, agent?: http.Agent) {
  const body = Buffer.from(JSON.stringify({ query, variables }));
  return request(child.port, body, headers, agent);
}

/**
 * One POST. A kept-alive socket the server closed while it sat idle (servers wait in turn, seconds
 * at a time) fails with ECONNRESET on reuse: that request is sent again once, on a new socket.
 */
function request(port: number, body: Buffer, headers: Record<string, string>, agent = agents.get(port), retried = false): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolvePromise, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (!retried && req.reusedSocket && err.code === 'ECONNRESET') resolvePromise(request(port, body, headers, agent, true));
      else reject(err);
    });
    req.end(body);
  });
}

const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU of a process so far, in ms (/proc/<pid>/stat, fields 14 and 15). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/**
 * User + system CPU of every PostgreSQL process on this machine so far, in ms: what the database
 * spent for a round (only one server is asked at a time, and the bench's database is the only busy one).
 */
function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) !== 'postgres') continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      total += ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
    } catch {
      // The process ended between the listing and the read.
    }
  }
  return total;
}

interface Case {
  name: string;
  child: Child;
  query: string;
  variables: Record<string, unknown>;
  headers: Record<string, string>;
}

interface RoundResult {
  rps: number;
  p50: number;
  p99: number;
  cpuPerReq: number;
  /** PostgreSQL's CPU per request (postgresCpuMs). */
  dbCpuPerReq: number;
}

const ERRORS = Buffer.from('"errors"');

async function round(c: Case, n: number): Promise<RoundResult> {
  const port = c.child.port;
  if (!agents.has(port)) agents.set(port, new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY }));
  const body = Buffer.from(JSON.stringify({ query: c.query, variables: c.variables }));
  const latencies: number[] = [];
  let issued = 0;
  const cpu0 = cpuMs(c.child.proc.pid!);
  const db0 = postgresCpuMs();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (issued < n) {
        issued++;
        const s = performance.now();
        const r = await request(port, body, c.headers);
        latencies.push(performance.now() - s);
        if (r.status !== 200 || r.body.indexOf(ERRORS) !== -1) throw new Error(`${c.name}: HTTP ${r.status} ${r.body.subarray(0, 500).toString()}`);
      }
    }),
  );
  const elapsed = performance.now() - t0;
  const cpu = cpuMs(c.child.proc.pid!) - cpu0;
  const db = postgresCpuMs() - db0;
  latencies.sort((a, b) => a - b);
  return { rps: (n * 1000) / elapsed, p50: latencies[Math.floor(n * 0.5)]!, p99: latencies[Math.min(n - 1, Math.floor(n * 0.99))]!, cpuPerReq: cpu / n, dbCpuPerReq: db / n };
}

interface Stat {
  median: number;
  min: number;
  max: number;
}

const stat = (xs: number[]): Stat => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
  return { median: m, min: s[0]!, max: s[s.length - 1]! };
};

interface Measured {
  rps: Stat;
  p50: Stat;
  p99: Stat;
  cpuPerReq: Stat;
  dbCpuPerReq: Stat;
  rounds: RoundResult[];
}

/** One warm-up round each, then `rounds` interleaved rounds: A, B, C, A, B, C, ... */
async function interleave(cases: Case[], rounds: number, n: number): Promise<Map<string, Measured>> {
  for (const c of cases) await round(c, Math.max(20, Math.floor(n / 2)));
  const results = new Map<string, RoundResult[]>(cases.map((c) => [c.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) results.get(c.name)!.push(await round(c, n));
    process.stdout.write('.');
  }
  const out = new Map<string, Measured>();
  for (const [name, rs] of results) {
    out.set(name, { rps: stat(rs.map((x) => x.rps)), p50: stat(rs.map((x) => x.p50)), p99: stat(rs.map((x) => x.p99)), cpuPerReq: stat(rs.map((x) => x.cpuPerReq)), dbCpuPerReq: stat(rs.map((x) => x.dbCpuPerReq)), rounds: rs });
  }
  return out;
}

/** Per-round ratios a/b (rounds are paired by index), as median (min–max). */
function ratio(a: Measured, b: Measured, key: 'rps' | 'p50' | 'cpuPerReq'): Stat {
  return stat(a.rounds.map((x, i) => x[key] / b.rounds[i]![key]));
}

// ---------------------------------------------------------------------------------------------
// Same rows from every server

interface Canon {
  id: string;
  personName: string;
  totalAssets: number;
  images: number;
  totalBytes: number;
  assets: { id: string; filename: string; dateTaken: string | null; status: string; tags: unknown[]; thumbnails: unknown[] }[];
  stories: { id: string; title: string; status: string }[];
  contributions: { id: string; contributorName: string; status: string }[];
}

type Json = Record<string, any>;

function canon(body: Buffer, who: string): Canon {
  const parsed = JSON.parse(body.toString('utf8')) as Json;
  if (parsed.errors || !parsed.data?.chest) throw new Error(`${who} did not answer the nested query: ${body.subarray(0, 1000).toString()}`);
  const c = parsed.data.chest as Json;
  return {
    id: c.id,
    personName: c.personName,
    totalAssets: Number(c.summary ? c.summary.totalAssets : c.all.totalCount),
    images: Number(c.summary ? c.summary.images : c.images.totalCount),
    totalBytes: Number(c.summary ? c.summary.totalBytes : c.totalBytes),
    assets: c.assets.edges.map(({ node: a }: Json) => ({
      id: a.id,
      filename: a.filename,
      dateTaken: a.dateTaken === null ? null : new Date(a.dateTaken).toISOString(),
      status: a.status,
      tags: a.tags.map((t: Json) => ({ name: t.name, source: t.source, confidence: t.confidence })),
      thumbnails: a.thumbnails.map((t: Json) => ({ name: t.name, width: t.width, height: t.height, mimeType: t.mimeType })),
    })),
    stories: c.stories.edges.map(({ node: s }: Json) => ({ id: s.id, title: s.title, status: s.status })),
    contributions: c.contributions.edges.map(({ node: x }: Json) => ({ id: x.id, contributorName: x.contributorName, status: x.status })),
  };
}

function firstDifference(a: unknown, b: unknown, path = ''): string | null {
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    return Object.is(a, b) ? null : `${path || '.'}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const d = firstDifference((a as Json)[k], (b as Json)[k], `${path}.${k}`);
    if (d) return d;
  }
  return null;
}

async function checkSameRows(cases: Case[], size: number): Promise<Canon> {
  const answers = await Promise.all(cases.map(async (c) => ({ c, canon: canon((await post(c.child, c.query, c.variables, c.headers)).body, c.name) })));
  const reference = answers[0]!;
  const expected = Math.min(size, 100);
  if (reference.canon.assets.length !== expected) throw new Error(`${reference.c.name} returned ${reference.canon.assets.length} assets of a ${size}-asset chest, expected ${expected}`);
  for (const other of answers.slice(1)) {
    const d = firstDifference(reference.canon, other.canon);
    if (d) throw new Error(`${other.c.name} and ${reference.c.name} differ for the ${size}-asset chest at ${d}: not measuring servers that answer different rows`);
  }
  return reference.canon;
}

// ---------------------------------------------------------------------------------------------
// Report

const f0 = (x: number) => x.toLocaleString('en-GB', { maximumFractionDigits: 0 });
const f1 = (x: number) => x.toFixed(1);
const f2 = (x: number) => x.toFixed(2);
const range = (s: Stat, f: (x: number) => string) => `${f(s.median)} (${f(s.min)}–${f(s.max)})`;

function machine() {
  const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  return {
    nproc: Number(execFileSync('nproc', { encoding: 'utf8' }).trim()),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: '',
    loadavgAtEnd: loadavg,
  };
}

interface Result {
  date: string;
  command: string;
  quick: boolean;
  sizes: number[];
  app: string;
  concurrency: number;
  rounds: number;
  machine: ReturnType<typeof machine>;
  nested: Record<string, { requestsPerRound: number; servers: Record<string, Measured>; ratios: Record<string, Record<string, Stat>> }>;
  trivial: { requestsPerRound: number; servers: Record<string, Measured>; ratios: Record<string, Stat> };
}

function markdown(r: Result): string {
  const m = r.machine;
  const lines: string[] = [];
  lines.push('## Nested chest query against PostGraphile V5 (`bench/nested-vs-postgraphile.ts`)', '');
  lines.push(
    "Issue 14's measurement. Three servers on loopback, each its own Node process, on one freshly seeded",
    `database (one owner; one chest each of ${r.sizes.map(f0).join(', ')} memories with tags and two thumbnails,`,
    'a few undated and one in the bin, 3 stories, 3 contributions): **ours** is the served app built and',
    'started as `npm start` does (PostgreSQL, `NODE_ENV=production`, default settings, info logs to',
    '/dev/null), asked as the chest\'s owner with a session token, so every access rule runs; **raw** is',
    '`pg` + node:http running the 9 statements our app ran for this query when issue 14 was filed',
    '(captured from its query log at 3741052; kept fixed since) and answering the same JSON; **PostGraphile**',
    `is ${POSTGRAPHILE} (amber preset without Relay node ids and without V5's "only indexed columns order and`,
    'filter" rule, as V4 did by default; `pgOrderByNullsLast`; `totalBytes` a computed-column SQL function)',
    'answering the equivalent query in one statement, reading the tables directly as the database owner:',
    '**no access rules at all**. Before measuring, the bench checks that all three return the same',
    'rows (asset ids in the same order, filenames, dates, statuses, tags, thumbnails, stories,',
    'contributions, counts) and stops if not. Query (ours):',
    '',
    '```graphql',
    OURS.replace(/\s+/g, ' '),
    '```',
    '',
    `${r.rounds} interleaved rounds after a warm-up round each, ${r.concurrency} requests in flight, keep-alive;`,
    'median (min–max) over rounds. CPU is the server process\'s user + system time (/proc/<pid>/stat)',
    'per request; DB CPU is that of all PostgreSQL processes during the round, per request. Ratios are',
    'per round (same round index), then median (min–max). The load generator runs in the bench process',
    'on the same cores.',
    '',
    `Machine: ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, PostgreSQL ${m.postgres} on 127.0.0.1;`,
    `the 2 cores are shared with 3 other people's work (load average at the end ${m.loadavgAtEnd}).`,
    `Measured: ${r.app}, ${r.date}. Command: \`${r.command}\`${r.quick ? ' (quick: fewer sizes, rounds and requests)' : ''}.`,
    '',
  );
  lines.push('| Memories in chest | Server | req/s | p50 ms | p99 ms | CPU ms/req | DB CPU ms/req | throughput vs PostGraphile | p50 vs raw | CPU vs raw |');
  lines.push('|---|---|---|---|---|---|---|---|---|---|');
  for (const [size, n] of Object.entries(r.nested)) {
    for (const name of ['ours', 'raw', 'postgraphile']) {
      const s = n.servers[name]!;
      const q = n.ratios[name]!;
      lines.push(
        `| ${f0(Number(size))} | ${name} | ${range(s.rps, f0)} | ${range(s.p50, f1)} | ${range(s.p99, f1)} | ${range(s.cpuPerReq, f2)} | ${range(s.dbCpuPerReq, f2)} | ${range(q.rpsVsPostgraphile!, f2)} | ${range(q.p50VsRaw!, f2)} | ${range(q.cpuVsRaw!, f2)} |`,
      );
    }
  }
  lines.push('', 'Goals (issue 14): ours ≥ 1.0× PostGraphile\'s throughput, p50 ≤ 1.5× raw, CPU ≤ 2× raw.', '');
  lines.push(
    `Trivial documents, ${f0(r.trivial.requestsPerRound)} requests a round: **bare graphql-js** is \`parse\` + \`validate\` + \`execute\``,
    'on node:http; with a token it also runs our one session-lookup statement.',
    '',
    '| Document | Server | req/s | p50 ms | CPU ms/req | throughput vs bare graphql-js (anonymous) |',
    '|---|---|---|---|---|---|',
  );
  const labels: Record<string, [string, string]> = {
    'ours anonymous': ['`{ __typename }`', 'ours'],
    'ours signed in': ['`{ __typename }` with a session token', 'ours'],
    'graphql-js anonymous': ['`{ __typename }`', 'bare graphql-js'],
    'graphql-js signed in': ['`{ __typename }` with a session token', 'bare graphql-js + session lookup'],
    'postgraphile anonymous': ['`{ __typename }`', 'PostGraphile'],
  };
  for (const [name, s] of Object.entries(r.trivial.servers)) {
    const [doc, server] = labels[name]!;
    lines.push(`| ${doc} | ${server} | ${range(s.rps, f0)} | ${range(s.p50, f2)} | ${range(s.cpuPerReq, f2)} | ${range(r.trivial.ratios[name]!, f2)} |`);
  }
  lines.push('', 'Goal (issue 14): ours ≥ 0.8× bare graphql-js, anonymous and signed in.', '');
  return lines.join('\n');
}

const START = '<!-- bench:nested-vs-postgraphile:start -->';
const END = '<!-- bench:nested-vs-postgraphile:end -->';

async function writeReports(r: Result): Promise<void> {
  const resultsPath = join(ROOT, 'bench/results.json');
  let all: Json = {};
  try {
    all = JSON.parse(await readFile(resultsPath, 'utf8')) as Json;
  } catch {
    // first run
  }
  all['nested-vs-postgraphile'] = r;
  await writeFile(resultsPath, `${JSON.stringify(all, null, 2)}\n`);
  const mdPath = join(ROOT, 'BENCHMARKS.md');
  const md = await readFile(mdPath, 'utf8');
  const section = `${START}\n${markdown(r)}\n${END}`;
  const i = md.indexOf(START);
  const j = md.indexOf(END);
  await writeFile(mdPath, i >= 0 && j > i ? md.slice(0, i) + section + md.slice(j + END.length) : `${md.trimEnd()}\n\n${section}\n`);
}

// ---------------------------------------------------------------------------------------------

interface Servers {
  ours: Child;
  raw: Child;
  postgraphile: Child;
  graphqlJs: Child;
}

async function withServers<T>(plan: Plan, ref: string | null, fn: (s: Servers, seeded: Seeded, app: string) => Promise<T>): Promise<T> {
  const built = await buildApp(ref);
  console.log(`\nnested-vs-postgraphile: our app built from the ${built.describe}; seeding ${plan.sizes.join(', ')}-memory chests`);
  const dataDir = await mkdtemp(join(tmpdir(), 'dmc-bench-data-'));
  const seeded = await seedDatabase([...new Set([...plan.sizes, 100])], (url) => migrateWith(built.dir, url));
  const children: Partial<Servers> = {};
  try {
    const tsx = ['--import', 'tsx'];
    const db = { DATABASE_URL: seeded.url, POOL_MAX: String(POOL_MAX) };
    children.ours = await startChild('ours', [built.main], appEnv(seeded, dataDir), built.dir);
    children.raw = await startChild('raw', [...tsx, 'bench/nested/raw-server.ts'], db);
    children.postgraphile = await startChild('postgraphile', [...tsx, 'bench/nested/postgraphile-server.ts'], db);
    children.graphqlJs = await startChild('graphql-js', [...tsx, 'bench/nested/graphql-js-server.ts'], db);
    return await fn(children as Servers, seeded, built.describe);
  } finally {
    for (const c of Object.values(children)) await stopChild(c);
    for (const a of agents.values()) a.destroy();
    agents.clear();
    await seeded.drop();
    await rm(dataDir, { recursive: true, force: true });
    await rm(built.dir, { recursive: true, force: true });
  }
}

function nestedCases(s: Servers, seeded: Seeded, size: number): Case[] {
  const id = seeded.chests.get(size)!;
  const owner = { authorization: `Bearer ${seeded.token}` };
  return [
    { name: 'ours', child: s.ours, query: OURS, variables: { id }, headers: owner },
    { name: 'raw', child: s.raw, query: OURS, variables: { id }, headers: owner },
    { name: 'postgraphile', child: s.postgraphile, query: THEIRS, variables: { id }, headers: {} },
  ];
}

export async function run({
  quick = process.argv.includes('--quick'),
  ref = argValue('--ref'),
  command = `npm run bench${quick ? ' -- --quick' : ''}`,
}: { quick?: boolean; ref?: string | null; command?: string } = {}): Promise<void> {
  const plan = quick ? QUICK : FULL;
  const result = await withServers(plan, ref, async (s, seeded, app) => {
    const nested: Result['nested'] = {};
    for (const size of plan.sizes) {
      const cases = nestedCases(s, seeded, size);
      await checkSameRows(cases, size);
      process.stdout.write(`  ${size} memories: same rows from all three; measuring `);
      const m = await interleave(cases, plan.rounds, plan.requests(size));
      process.stdout.write('\n');
      const pgl = m.get('postgraphile')!;
      const raw = m.get('raw')!;
      const servers = Object.fromEntries(m);
      const ratios = Object.fromEntries(
        [...m].map(([name, x]) => [
          name,
          {
            rpsVsPostgraphile: ratio(x, pgl, 'rps'),
            p50VsRaw: ratio(x, raw, 'p50'),
            cpuVsRaw: ratio(x, raw, 'cpuPerReq'),
            rpsVsRaw: ratio(x, raw, 'rps'),
            p50VsPostgraphile: ratio(x, pgl, 'p50'),
            cpuVsPostgraphile: ratio(x, pgl, 'cpuPerReq'),
          },
        ]),
      );
      nested[String(size)] = { requestsPerRound: plan.requests(size), servers, ratios };
    }
    const owner = { authorization: `Bearer ${seeded.token}` };
    const trivialCases: Case[] = [
      { name: 'ours anonymous', child: s.ours, query: TYPENAME, variables: {}, headers: {} },
      { name: 'ours signed in', child: s.ours, query: TYPENAME, variables: {}, headers: owner },
      { name: 'graphql-js anonymous', child: s.graphqlJs, query: TYPENAME, variables: {}, headers: {} },
      { name: 'graphql-js signed in', child: s.graphqlJs, query: TYPENAME, variables: {}, headers: owner },
      { name: 'postgraphile anonymous', child: s.postgraphile, query: TYPENAME, variables: {}, headers: {} },
    ];
    process.stdout.write('  { __typename }: measuring ');
    const t = await interleave(trivialCases, plan.rounds, plan.trivialRequests);
    process.stdout.write('\n');
    const bare = t.get('graphql-js anonymous')!;
    const trivial = { requestsPerRound: plan.trivialRequests, servers: Object.fromEntries(t), ratios: Object.fromEntries([...t].map(([k, x]) => [k, ratio(x, bare, 'rps')])) };
    const mach = machine();
    mach.postgres = execFileSync('psql', ['-XAtc', 'show server_version', seeded.url], { encoding: 'utf8' }).trim().split(' ')[0] ?? '';
    return {
      date: new Date().toISOString(),
      command,
      sizes: plan.sizes,
      quick,
      app,
      concurrency: CONCURRENCY,
      rounds: plan.rounds,
      machine: mach,
      nested,
      trivial,
    } satisfies Result;
  });
  await writeReports(result);
  console.log(markdown(result));
}

function argValue(flag: string): string | null {
  const i = process.argv.indexOf(flag);
  return i >= 0 ? (process.argv[i + 1] ?? null) : null;
}

/**
 * --profile: our app, then the raw server (for scale), under `node --cpu-prof` answering the
 * 100-asset query (`--size 10` or `--size 1000` for another); prints each one's grouped stacks.
 * The profiles stay in a temporary folder.
 */
async function profile(ref: string | null, size = 100, requests = 600): Promise<void> {
  const dirs = { ours: await mkdtemp(join(tmpdir(), 'dmc-bench-prof-ours-')), raw: await mkdtemp(join(tmpdir(), 'dmc-bench-prof-raw-')) };
  await withServers({ ...QUICK, sizes: [size] }, ref, async (s, seeded) => {
    const main = s.ours.proc.spawnargs.at(-1)!;
    await stopChild(s.ours);
    await stopChild(s.raw);
    const dataDir = await mkdtemp(join(tmpdir(), 'dmc-bench-data-'));
    s.ours = await startChild('ours (profiled)', ['--cpu-prof', `--cpu-prof-dir=${dirs.ours}`, main], appEnv(seeded, dataDir), resolve(main, '../../..'));
    s.raw = await startChild('raw (profiled)', ['--cpu-prof', `--cpu-prof-dir=${dirs.raw}`, '--import', 'tsx', 'bench/nested/raw-server.ts'], { DATABASE_URL: seeded.url, POOL_MAX: String(POOL_MAX) });
    const [ours, raw] = nestedCases(s, seeded, size);
    for (const c of [ours!, raw!]) {
      await round(c, 100); // warm-up, also in the profile
      const r = await round(c, requests);
      console.log(`${c.name} profiled: ${requests} requests, ${f0(r.rps)} req/s, CPU ${f2(r.cpuPerReq)} ms/req`);
      await stopChild(c.child);
    }
    await rm(dataDir, { recursive: true, force: true });
  });
  for (const [name, dir] of Object.entries(dirs)) {
    const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'));
    if (!file) throw new Error(`no .cpuprofile in ${dir}`);
    console.log(`\n### ${name}: ${join(dir, file)}\n`);
    console.log(summariseProfile(JSON.parse(await readFile(join(dir, file), 'utf8'))));
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const ref = argValue('--ref');
  const command = `npx tsx bench/nested-vs-postgraphile.ts ${process.argv.slice(2).join(' ')}`.trim();
  await (process.argv.includes('--profile') ? profile(ref, Number(argValue('--size') ?? 100)) : run({ ref, command }));
  process.exit(0);
}
