import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from './support/client.js';

/**
 * The embedded default as a family runs it: `src/main.ts` as a child process with no database
 * configured, PGlite under a data folder, stopped with SIGTERM and started again.
 */
const ROOT = join(import.meta.dirname, '..');
const children: ChildProcess[] = [];

interface Run {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<number | null>;
}

function start(env: Record<string, string>): Run {
  const { DATABASE_URL: _omit, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { cwd: ROOT, env: { ...inherited, ...env } });
  children.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function waitReady(base: string, run: Run): Promise<void> {
  for (let i = 0; i < 120; i++) {
    if (run.child.exitCode !== null) throw new Error(`server exited early: ${run.stderr()}${run.stdout()}`);
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error('server did not become ready');
}

async function gql(base: string, query: string, token?: string) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
    body: JSON.stringify({ query }),
  });
  return (await res.json()) as { data?: any; errors?: any[] };
}

describe('embedded mode (no DATABASE_URL)', () => {
  let dataDir: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-embedded-'));
  });
  afterEach(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('keeps a chest, its signed download links and its secret key across a graceful restart', { timeout: 180_000 }, async () => {
    const port = String(await freePort());
    const base = `http://127.0.0.1:${port}`;
    const env = { DATA_DIR: dataDir, PORT: port, HOST: '127.0.0.1', LOG_LEVEL: 'info' };

    const first = start(env);
    await waitReady(base, first);
    await gql(base, `mutation { signUp(input: { email: "e2e@example.test", password: "long enough pw", displayName: "E" }) { email } }`);
    const token = (await gql(base, `mutation { signIn(email: "e2e@example.test", password: "long enough pw") { token } }`)).data.signIn.token as string;
    const made = await gql(base, `mutation { createChest(input: { personName: "Still here" }) { id } }`, token);
    const id = made.data.createChest.id as string;
    // A memory, and its 5-minute download link signed with the key of this first run.
    const assetId = await apiClient(base).upload(token, id, Buffer.from('Dear Rose, the roses are out.\n'), 'letter.txt', 'text/plain');
    const link = (await gql(base, `{ asset(id: "${assetId}") { originalUrl } }`, token)).data.asset.originalUrl as string;
    expect(link).toMatch(/sig=/);
    const key = await readFile(join(dataDir, 'secret.key'), 'utf8');
    expect((await stat(join(dataDir, 'secret.key'))).mode & 0o777).toBe(0o600);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(first.stdout()).toContain('"msg":"stopped"');

    const second = start(env);
    await waitReady(base, second);
    const again = await gql(base, `{ chest(id: "${id}") { personName myRole } }`, token);
    expect(again.data.chest).toEqual({ personName: 'Still here', myRole: 'OWNER' });
    // The same key after the restart, so the link signed before it still opens the file.
    expect(await readFile(join(dataDir, 'secret.key'), 'utf8')).toBe(key);
    const download = await fetch(new URL(link, base));
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('Dear Rose, the roses are out.\n');
    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it.each([
    ['PORT', { PORT: 'not-a-port' }],
    ['DATABASE_URL', { DATABASE_URL: 'mysql://root@localhost/x' }],
    // Served mode without SECRET_KEY: replicas would not share one, so none is made up.
    ['SECRET_KEY', { DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/postgres', SECRET_KEY: '' }],
  ])('refuses to start with a bad %s, naming it', { timeout: 60_000 }, async (name, env) => {
    const run = start({ DATA_DIR: dataDir, ...env });
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toContain(`${name}:`);
  });
});

describe('start-up failures', () => {
  it('closes the database and says why when the port is taken', { timeout: 120_000 }, async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dmc-port-'));
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = String((blocker.address() as { port: number }).port);
    try {
      const run = start({ DATA_DIR: dataDir, PORT: port, HOST: '127.0.0.1' });
      expect(await run.exited).toBe(1);
      expect(run.stderr()).toMatch(/failed to start: listen EADDRINUSE/);
      expect(run.stderr()).not.toMatch(/WebSocket/);
    } finally {
      await new Promise<void>((r) => blocker.close(() => r()));
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
