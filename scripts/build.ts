/**
 * `npm run build` (run before `npm start` and `npm run worker`): compiles to dist/ only when
 * something that shapes dist/ changed since the last build, so a restart of an unchanged checkout
 * starts in seconds instead of recompiling (10-45 s on two busy cores).
 *
 * The compiler is `tsc --build --incremental` (its state in dist/tsconfig.build.tsbuildinfo): it
 * recompiles only what a change affects. Its own up-to-date check is cheap (~0.2 s) but goes by
 * timestamps and misses what matters here: a changed file with an older mtime (`cp -p`, `tar`,
 * `rsync -t`), package.json ("type" decides the module format under NodeNext), package-lock.json
 * (dependency types decide whether the build passes), outputs deleted from dist/, and a build
 * killed half-way. So this script decides, from content hashes, and tsc only compiles:
 * - dist/.build-stamp.json holds the hashes of the inputs the last build started from: the
 *   effective config (`tsc --showConfig`: merged options and the file list, as tsc reads them),
 *   every file under what the config includes, package.json, package-lock.json, the TypeScript
 *   version and this script;
 * - when they match, the last build ran to the end and passed, and every source's .js exists,
 *   nothing compiles (~0.3 s, most of it tsc printing its config);
 * - the stamp is removed before tsc starts and written after tsc exits, with the hashes taken
 *   before it started: a killed build leaves no stamp, and an edit during a build is seen next time;
 * - no stamp, a changed package.json, lock file, TypeScript or this script, or a missing output: a
 *   full build (--force); only sources or config changed: an incremental one, with the tsbuildinfo's
 *   mtime set back first so tsc compares every source with its recorded hash, not by mtime;
 * - a build with errors exits non-zero and is recorded as failed: the next start compiles again.
 *
 * `npm run build -- --force` rebuilds everything; `npm run build -- --check` only says whether a
 * build is needed (exit 0: dist is current, 1: it is not). Plain Node (type stripping, no
 * imports of the project) so it runs before anything is compiled.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';

const root = dirname(import.meta.dirname);
const PROJECT = 'tsconfig.build.json';
/** Inputs that change what every file compiles to (or whether the build passes). */
const ENV_FILES = ['package.json', 'package-lock.json', 'scripts/build.ts'];

/** What `tsc --showConfig` prints: the merged options and the files tsc would compile. */
interface ShownConfig {
  compilerOptions?: { outDir?: string; rootDir?: string; tsBuildInfoFile?: string };
  files?: string[];
  include?: string[];
}

interface Fingerprint {
  /** package.json, the lock file, the TypeScript version and this script. */
  env: string;
  /** The effective config and every file under what it includes. */
  sources: string;
}

interface Stamp extends Fingerprint {
  /** Whether tsc exited 0. */
  ok: boolean;
}

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--force' && a !== '--check');
if (unknown.length) {
  console.error(`build: unknown argument ${unknown.join(' ')} (usage: build.ts [--force | --check])`);
  process.exit(2);
}
process.exit(main(args.includes('--force'), args.includes('--check')));

function main(force: boolean, check: boolean): number {
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');
  const tsVersion = (JSON.parse(readFileSync(join(dirname(dirname(tsc)), 'package.json'), 'utf8')) as { version: string }).version;
  const shown = spawnSync(process.execPath, [tsc, '--project', PROJECT, '--showConfig'], { cwd: root, encoding: 'utf8' });
  if (shown.status !== 0) {
    // tsc says what is wrong with the config when it builds.
    if (check) {
      console.error(`build: dist is not current (tsc could not read the config: ${shown.stdout}${shown.stderr})`.trim());
      return 1;
    }
    return compile(tsc, { full: true, reason: 'tsc could not read the config' }) ?? 1;
  }
  const config = JSON.parse(shown.stdout) as ShownConfig;
  const outDir = resolve(root, config.compilerOptions?.outDir ?? '.');
  const rootDir = resolve(root, config.compilerOptions?.rootDir ?? '.');
  const stampFile = join(outDir, '.build-stamp.json');
  // tsc's default place for it when outDir is set and rootDir is the config's folder.
  const buildInfo = join(outDir, relative(rootDir, root), `${PROJECT.replace(/\.json$/, '')}.tsbuildinfo`);

  const sources = (config.files ?? []).map((f) => resolve(root, f));
  const now: Fingerprint = {
    env: hashFiles(ENV_FILES.map((f) => join(root, f)), `typescript ${tsVersion}`),
    sources: hashFiles(includedFiles(config, sources), shown.stdout),
  };
  const stamp = readStamp(stampFile);
  const missing = sources.find((file) => isCompiled(file) && !existsSync(join(outDir, relative(rootDir, file)).replace(/\.(m|c)?ts$/, '.$1js')));
  const reason = force ? '--force' : staleReason(stamp, now, missing && relative(root, missing));
  if (check) {
    console.error(reason ? `build: dist is not current (${reason})` : 'build: dist is current');
    return reason ? 1 : 0;
  }
  if (!reason) {
    console.error('build: dist is current (nothing it is built from changed); not compiling');
    return 0;
  }
  // What tsc --build does not notice itself (a deleted output, what env covers) takes a full build,
  // and so does a tsbuildinfo somewhere this script does not look.
  const full = force || !stamp || stamp.env !== now.env || missing !== undefined || config.compilerOptions?.tsBuildInfoFile !== undefined || !existsSync(buildInfo);
  rmSync(stampFile, { force: true });
  // An old tsbuildinfo makes tsc compare each source with the hash it recorded for it.
  if (!full) utimesSync(buildInfo, 0, 0);
  const status = compile(tsc, { full, reason });
  if (status !== null) writeStamp(stampFile, { ...now, ok: status === 0 });
  return status ?? 1;
}

/** Runs tsc --build; its exit status, or null when it did not run to the end. */
function compile(tsc: string, { full, reason }: { full: boolean; reason: string }): number | null {
  console.error(`build: compiling (${reason}; ${full ? 'full build' : 'incremental'}) ...`);
  const started = performance.now();
  const run = spawnSync(process.execPath, [tsc, '--build', PROJECT, '--incremental', ...(full ? ['--force'] : [])], { cwd: root, stdio: 'inherit' });
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (run.status === null) {
    console.error(`build: tsc ${run.error ? `did not run: ${run.error.message}` : `was stopped by ${run.signal}`}; dist is not current`);
    return null;
  }
  console.error(run.status === 0 ? `build: done in ${seconds} s` : `build: tsc failed (exit ${run.status}) after ${seconds} s`);
  return run.status;
}

/** Why dist/ is not current, or undefined when it is. */
function staleReason(stamp: Stamp | undefined, now: Fingerprint, missing: string | undefined): string | undefined {
  if (!stamp) return 'no finished build in dist/';
  if (stamp.env !== now.env) return 'package.json, package-lock.json, TypeScript or scripts/build.ts changed';
  if (missing) return `the output of ${missing} is missing`;
  if (stamp.sources !== now.sources) return 'sources or tsconfig changed';
  if (!stamp.ok) return 'the last build failed';
  return undefined;
}

function isCompiled(file: string): boolean {
  return /\.(m|c)?ts$/.test(file) && !/\.d\.(m|c)?ts$/.test(file);
}

/**
 * The files tsc compiles and every other file under what the config includes (a JSON file a
 * source imports, say), sorted. Hashing more than tsc reads only costs a rebuild now and then.
 */
function includedFiles(config: ShownConfig, sources: string[]): string[] {
  const files = new Set(sources);
  for (const entry of config.include ?? []) {
    // A glob's folder is walked whole.
    const path = resolve(root, entry.split(/[*?{]/)[0] ?? '.');
    if (!existsSync(path)) continue;
    if (!statSync(path).isDirectory()) {
      files.add(path);
      continue;
    }
    for (const name of readdirSync(path, { recursive: true, encoding: 'utf8' })) {
      const file = join(path, name);
      if (statSync(file).isFile()) files.add(file);
    }
  }
  return [...files].sort();
}

function hashFiles(files: string[], extra: string): string {
  const hash = createHash('sha256').update(extra);
  for (const file of files) {
    const exists = existsSync(file);
    // A missing file (no lock file yet) hashes differently from an empty one.
    hash.update(`\0${relative(root, file).split(sep).join('/')}\0${exists ? statSync(file).size : -1}\0`);
    if (exists) hash.update(readFileSync(file));
  }
  return hash.digest('hex');
}

function readStamp(stampFile: string): Stamp | undefined {
  try {
    const stamp = JSON.parse(readFileSync(stampFile, 'utf8')) as Partial<Stamp>;
    return typeof stamp.env === 'string' && typeof stamp.sources === 'string' && typeof stamp.ok === 'boolean' ? (stamp as Stamp) : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place: a reader sees the old stamp, none, or the new one. */
function writeStamp(stampFile: string, stamp: Stamp): void {
  mkdirSync(dirname(stampFile), { recursive: true });
  const temporary = `${stampFile}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(stamp, null, 2)}\n`);
  renameSync(temporary, stampFile);
}
