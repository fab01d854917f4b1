/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and prints where the time went: self time and
 * inclusive time grouped by library (GC, MikroORM hydration, Apollo, type-graphql, graphql-js,
 * pg, JSON, ...), and the top functions by self and inclusive time.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** Ordered: the first rule that matches names a frame's group. */
const GROUPS: [string, (f: CallFrame) => boolean][] = [
  ['GC', (f) => f.functionName === '(garbage collector)'],
  ['socket writes (the syscall; on loopback it includes the receiver\'s TCP path)', (f) => f.url === '' && /^(writeBuffer|writev|writeUtf8String|writeLatin1String)$/.test(f.functionName)],
  ['idle', (f) => f.functionName === '(idle)'],
  ['(program: V8/native, not attributed)', (f) => f.functionName === '(program)'],
  ['MikroORM hydration / entity factory', (f) => /@mikro-orm\//.test(f.url) && /hydrat|EntityFactory|ObjectHydrator|EntityComparator|Reference|Collection|EntityHelper|WrappedEntity|IdentityMap|UnitOfWork/i.test(`${f.url} ${f.functionName}`)],
  ['MikroORM other (query building, driver, mapping)', (f) => /@mikro-orm\//.test(f.url)],
  ['Apollo Server (incl. plugins)', (f) => /@apollo\//.test(f.url)],
  ['type-graphql', (f) => /type-graphql/.test(f.url)],
  ['graphql-js execute (incl. its jsutils: promiseForObject, memoize3)', (f) => /\/graphql\/(execution|jsutils|type)\//.test(f.url)],
  ['graphql-js parse/validate (language, validation)', (f) => /\/node_modules\/graphql\//.test(f.url)],
  ['dataloader', (f) => /dataloader/.test(f.url)],
  ['pg driver', (f) => /\/node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-date|postgres-array)\//.test(f.url)],
  ['JSON (parse/stringify)', (f) => f.url === '' && /^(stringify|parse|JSONSerialize.*|JsonParse.*)$/.test(f.functionName)],
  ['express / body parsing', (f) => /\/node_modules\/(express|body-parser|raw-body|router|iconv-lite|type-is|content-type|qs)\//.test(f.url)],
  ['pino (logs)', (f) => /\/node_modules\/(pino|sonic-boom|thread-stream|fast-redact)/.test(f.url)],
  ['prom-client (metrics)', (f) => /prom-client/.test(f.url)],
  ['OpenTelemetry', (f) => /@opentelemetry/.test(f.url)],
  ['our code (src/)', (f) => /\/out\/src\/|\/src\//.test(f.url) && !/node_modules/.test(f.url)],
  ['other packages', (f) => /node_modules/.test(f.url)],
  ['Node internals (http, net, streams, timers)', (f) => f.url.startsWith('node:')],
  ['V8 builtins / native', () => true],
];

const groupOf = (f: CallFrame) => GROUPS.find(([, test]) => test(f))![0];
const NATIVE = 'V8 builtins / native';

const short = (f: CallFrame) => {
  const url = f.url.replace(/^file:\/\//, '').replace(/.*\/node_modules\//, '').replace(/.*\/out\//, '');
  return `${f.functionName || '(anonymous)'} ${url ? `${url}:${f.lineNumber + 1}` : ''}`.trim();
};

/**
 * `requestFrame` marks a sample as serving requests: samples before the first one that has such a
 * frame on its stack (start-up: module loading, schema building, migrations check) are left out.
 */
export function summariseProfile(p: CpuProfile, { top = 25, requestFrame = /@apollo\/server|raw-server/ } = {}): string {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const stackHas = (id: number, re: RegExp) => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) if (re.test(byId.get(at)!.callFrame.url)) return true;
    return false;
  };
  /**
   * A frame's own group; V8 builtins and generated code (no URL) count for their caller's group,
   * so MikroORM's compiled hydrators are MikroORM's, and JSON.stringify stays JSON.
   */
  const selfGroup = (id: number) => {
    const g = groupOf(byId.get(id)!.callFrame);
    if (g !== NATIVE) return g;
    for (let at = parent.get(id); at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (/@mikro-orm\/core\/utils\/Utils\.js/.test(f.url) && f.functionName === 'callCompiledFunction') return 'MikroORM hydration / entity factory';
      const up = groupOf(f);
      if (up !== NATIVE) return up;
    }
    return g;
  };
  let first = p.samples.findIndex((id) => stackHas(id, requestFrame));
  if (first < 0) first = 0;
  let skipped = 0;
  for (let i = 0; i < first; i++) skipped += (p.timeDeltas[i] ?? 0) / 1000;
  const self = new Map<number, number>();
  const groupSelf = new Map<string, number>();
  const groupIncl = new Map<string, number>();
  const fnIncl = new Map<string, number>();
  let total = 0;
  let busy = 0;
  for (let i = first; i < p.samples.length; i++) {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    const id = p.samples[i]!;
    total += dt;
    const g = selfGroup(id);
    if (g !== 'idle') busy += dt;
    self.set(id, (self.get(id) ?? 0) + dt);
    groupSelf.set(g, (groupSelf.get(g) ?? 0) + dt);
    const groups = new Set<string>();
    const fns = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at)!.callFrame;
      if (f.functionName === '(root)') continue;
      groups.add(at === id ? g : groupOf(f));
      fns.add(short(f));
    }
    for (const x of groups) groupIncl.set(x, (groupIncl.get(x) ?? 0) + dt);
    for (const x of fns) fnIncl.set(x, (fnIncl.get(x) ?? 0) + dt);
  }
  const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)} %`;
  const lines: string[] = [];
  lines.push(`${(total / 1000).toFixed(1)} s sampled after start-up (${(skipped / 1000).toFixed(1)} s before the first request left out), ${(busy / 1000).toFixed(1)} s busy; percentages are of busy time`, '');
  lines.push('| Group | self | inclusive |', '|---|---|---|');
  for (const [g] of GROUPS) {
    if (g === 'idle' || !groupIncl.has(g)) continue;
    lines.push(`| ${g} | ${pct(groupSelf.get(g) ?? 0)} | ${pct(groupIncl.get(g) ?? 0)} |`);
  }
  const fnSelf = new Map<string, number>();
  for (const [id, ms] of self) {
    if (ms === 0) continue;
    const f = byId.get(id)!.callFrame;
    if (f.functionName === '(idle)') continue;
    const k = short(f);
    fnSelf.set(k, (fnSelf.get(k) ?? 0) + ms);
  }
  lines.push('', `Top ${top} functions by self time:`, '', '| self | function |', '|---|---|');
  for (const [k, ms] of [...fnSelf].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`| ${pct(ms)} | \`${k}\` |`);
  lines.push('', `Top ${top} functions by inclusive time (outside Node's own http/event-loop frames):`, '', '| inclusive | function |', '|---|---|');
  const skip = /^\((program|idle|garbage collector)\)|node:|processTicksAndRejections|listOnTimeout|processTimers/;
  for (const [k, ms] of [...fnIncl].filter(([k]) => !skip.test(k)).sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`| ${pct(ms)} | \`${k}\` |`);
  return lines.join('\n');
}
