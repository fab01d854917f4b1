import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * scripts/build.ts, the build before `npm start` and `npm run worker`: an unchanged checkout
 * starts without compiling, and whatever changes what dist/ must hold compiles again. It runs on
 * a small project of its own in a temporary folder (the repository's tsconfigs, package files and
 * node_modules, a few sources of its own), so it never writes this checkout's dist/ and a build
 * takes a second, not a minute. "Compiled" is seen in the script's words and in dist/ itself:
 * which files were rewritten (mtime) and what they now hold.
 */
const repo = join(import.meta.dirname, '..');
let project: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Node 24 (this one) first on PATH, for npm and the scripts it runs. */
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`, npm_config_update_notifier: 'false' };

function build(...args: string[]): Run {
  const run = spawnSync(process.execPath, ['scripts/build.ts', ...args], { cwd: project, env, encoding: 'utf8', timeout: 300_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function npmStart(): Run {
  const run = spawnSync('npm', ['start'], { cwd: project, env, encoding: 'utf8', timeout: 300_000 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Every file in dist/ with its mtime and a hash of its bytes. */
function snapshot(): Map<string, string> {
  const files = new Map<string, string>();
  const dist = join(project, 'dist');
  for (const name of readdirSync(dist, { recursive: true, encoding: 'utf8' })) {
    const path = join(dist, name);
    if (!statSync(path).isFile()) continue;
    files.set(name, `${statSync(path).mtimeMs} ${createHash('sha256').update(readFileSync(path)).digest('hex')}`);
  }
  return files;
}

const mtime = (path: string): number => statSync(join(project, path)).mtimeMs;
const write = (path: string, text: string): void => writeFileSync(join(project, path), text);

const compiled = (run: Run): boolean => run.stderr.includes('build: compiling');

beforeAll(() => {
  project = mkdtempSync(join(tmpdir(), 'build-current-'));
  for (const file of ['tsconfig.json', 'tsconfig.build.json', 'package.json', 'package-lock.json', 'scripts/build.ts']) {
    mkdirSync(dirname(join(project, file)), { recursive: true });
    copyFileSync(join(repo, file), join(project, file));
  }
  symlinkSync(join(repo, 'node_modules'), join(project, 'node_modules'));
  for (const dir of ['src', 'worker', 'migrations']) mkdirSync(join(project, dir));
  write('src/greeting.ts', "export function greeting(): string {\n  return 'started v1';\n}\n");
  write('src/main.ts', "import { greeting } from './greeting.js';\n\nconsole.log(greeting());\n");
  write('src/other.ts', 'export const other = 1;\n');
  write('worker/main.ts', "import { greeting } from '../src/greeting.js';\n\nconsole.log('worker', greeting());\n");
  write('migrations/index.ts', 'export const migrationsList: string[] = [];\n');
  write('mikro-orm.config.ts', 'export default {};\n');
});

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true });
});

// Each build is a tsc run (a few seconds on two busy cores); a test makes up to five.
describe('the build before npm start', { timeout: 300_000 }, () => {
  it('compiles on the first npm start and not on the next one of the unchanged checkout', () => {
    const first = npmStart();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('build: compiling (no finished build in dist/; full build)');
    expect(first.stdout).toContain('started v1');
    expect(existsSync(join(project, 'dist/worker/main.js'))).toBe(true);
    const before = snapshot();

    const second = npmStart();
    expect(second.code, second.stderr).toBe(0);
    expect(compiled(second)).toBe(false);
    expect(second.stderr).toContain('build: dist is current');
    expect(second.stdout).toContain('started v1');
    expect(snapshot()).toEqual(before);
    expect(build('--check').code).toBe(0);
  });

  it('npm start and npm run worker go through the script, not through tsc', () => {
    const scripts = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.prestart).toBe('node scripts/build.ts');
    expect(scripts.worker).toMatch(/^node scripts\/build\.ts && node dist\/worker\/main\.js$/);
    expect(scripts.build).toBe('node scripts/build.ts');
  });

  it('a file touched but not changed compiles nothing (the output could not differ)', () => {
    const before = snapshot();
    const later = Date.now() / 1000 + 60;
    utimesSync(join(project, 'src/greeting.ts'), later, later);
    const run = build();
    expect(run.code, run.stderr).toBe(0);
    expect(compiled(run)).toBe(false);
    expect(snapshot()).toEqual(before);
  });

  it('a changed source compiles again even with an older mtime, and only what it affects', () => {
    const other = mtime('dist/src/other.js');
    write('src/greeting.ts', "export function greeting(): string {\n  return 'started v2';\n}\n");
    // As `cp -p` or `tar` leave it: older than the last build, which tsc --build alone would trust.
    utimesSync(join(project, 'src/greeting.ts'), new Date('2001-01-01'), new Date('2001-01-01'));
    expect(build('--check')).toMatchObject({ code: 1 });

    const run = build();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('build: compiling (sources or tsconfig changed; incremental)');
    expect(readFileSync(join(project, 'dist/src/greeting.js'), 'utf8')).toContain('started v2');
    expect(mtime('dist/src/other.js')).toBe(other);
    expect(spawnSync(process.execPath, ['dist/src/main.js'], { cwd: project, encoding: 'utf8' }).stdout).toContain('started v2');

    const again = build();
    expect(compiled(again)).toBe(false);
  });

  it('a new source file and a tsconfig change compile again', () => {
    write('src/added.ts', 'export const added = 2;\n');
    const run = build();
    expect(run.code, run.stderr).toBe(0);
    expect(compiled(run)).toBe(true);
    expect(existsSync(join(project, 'dist/src/added.js'))).toBe(true);

    const config = readFileSync(join(project, 'tsconfig.json'), 'utf8');
    write('tsconfig.json', config.replace('"sourceMap": true', '"sourceMap": false'));
    try {
      const changed = build();
      expect(changed.code, changed.stderr).toBe(0);
      expect(compiled(changed)).toBe(true);
      expect(readFileSync(join(project, 'dist/src/added.js'), 'utf8')).not.toContain('sourceMappingURL');
    } finally {
      write('tsconfig.json', config);
    }
    expect(build().code).toBe(0);
    expect(readFileSync(join(project, 'dist/src/added.js'), 'utf8')).toContain('sourceMappingURL');
  });

  it('a changed package-lock.json or package.json compiles everything', () => {
    for (const file of ['package-lock.json', 'package.json']) {
      const other = mtime('dist/src/other.js');
      appendFileSync(join(project, file), '\n');
      const run = build();
      expect(run.code, run.stderr).toBe(0);
      expect(run.stderr).toContain('build: compiling (package.json, package-lock.json, TypeScript or scripts/build.ts changed; full build)');
      expect(mtime('dist/src/other.js')).not.toBe(other);
      expect(compiled(build())).toBe(false);
    }
  });

  it('an output deleted from dist/ is written again', () => {
    rmSync(join(project, 'dist/src/other.js'));
    const run = build();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('the output dist/src/other.js is missing');
    expect(existsSync(join(project, 'dist/src/other.js'))).toBe(true);
  });

  it('a build with type errors fails at every start until it is fixed', () => {
    write('src/other.ts', "export const other: number = 'one';\n");
    const failed = build();
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain('TS2322');
    const again = build();
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('the last build failed');

    write('src/other.ts', 'export const other = 1;\n');
    const fixed = build();
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(compiled(build())).toBe(false);
  });

  it('a build killed half-way is not taken as current: the next start compiles everything', async () => {
    appendFileSync(join(project, 'package-lock.json'), '\n');
    const child = spawn(process.execPath, ['scripts/build.ts'], { cwd: project, env, detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // The script says so right after it removed the stamp and before tsc starts: kill it there.
    await new Promise<void>((resolve) => {
      let said = '';
      child.stderr.on('data', (chunk: Buffer) => {
        said += chunk.toString();
        if (said.includes('build: compiling')) resolve();
      });
    });
    process.kill(-child.pid!, 'SIGKILL');
    await exited;

    const check = build('--check');
    expect(check.code).toBe(1);
    expect(check.stderr).toContain('no finished build in dist/');
    const run = build();
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('full build');
    expect(compiled(build())).toBe(false);
  });
});
