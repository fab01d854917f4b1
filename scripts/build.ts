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
 *   tsconfigs tsc read (the project and what it extends), every file under the folders it
 *   includes and the files it names, package.json, package-lock.json, the TypeScript version and
 *   this script; and what TypeScript's own reading of the config said those are, so a start
 *   checks them without loading TypeScript;
 * - when they match, the last build ran to the end and passed, and every source's .js exists,
 *   nothing compiles and nothing is loaded but this script (~0.1 s);
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
/** tsconfig.json's outDir: where the stamp is looked for before any config is read. */
const OUT_DIR = join(root, 'dist');
const STAMP = join(OUT_DIR, '.build-stamp.json');
/** Inputs that change what every file compiles to (or whether the build passes). */
const ENV_FILES = ['package.json', 'package-lock.json', 'scripts/build.ts'];

/** What the build reads, as TypeScript resolved it from the config (paths relative to the root). */
interface Inputs {
  /** The project's tsconfig and every tsconfig it extends. */
  configs: string[];
  /** Folders the config includes, walked whole (recursive) or only their own files. */
  folders: { path: string; recursive: boolean }[];
  /** The files tsc compiles (some may lie outside the folders: named in "include" or "files"). */
  files: string[];
  /** The .js each compiled file becomes. */
  outputs: string[];
  /** tsc --build's state file. */
  buildInfo: string;
}

interface Stamp {
  /** package.json, the lock file, the TypeScript version and this script. */
  env: string;
  /** The contents of everything `inputs` names. */
  sources: string;
  inputs: Inputs;
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
  const typescript = dirname(createRequire(join(root, 'package.json')).resolve('typescript/package.json'));
  const env = hashFiles(ENV_FILES, `typescript ${(JSON.parse(readFileSync(join(typescript, 'package.json'), 'utf8')) as { version: string }).version}`);
  const stamp = readStamp();
  const reason = force ? '--force' : staleReason(stamp, env);
  if (check) {
    console.error(reason ? `build: dist is not current (${reason})` : 'build: dist is current');
    return reason ? 1 : 0;
  }
  if (!reason) {
    console.error('build: dist is current (nothing it is built from changed); not compiling');
    return 0;
  }
  // Read (and hashed) before tsc starts: an edit made during the build is seen at the next start.
  const inputs = readInputs(typescript);
  const sources = inputs && hashInputs(inputs);
  // What tsc --build does not notice itself (a deleted output, what env covers) takes a full
  // build, and so does a config TypeScript could not read (tsc will say why).
  const full = force || !stamp || !inputs || stamp.env !== env || reason.startsWith('the output') || !existsSync(join(root, inputs.buildInfo));
  rmSync(STAMP, { force: true });
  // An old tsbuildinfo makes tsc compare each source with the hash it recorded for it.
  if (!full) utimesSync(join(root, inputs.buildInfo), 0, 0);
  const status = compile(join(typescript, 'bin/tsc'), { full, reason });
  if (status !== null && inputs && sources) writeStamp({ env, sources, inputs, ok: status === 0 });
  return status ?? 1;
}

/** Why dist/ is not current, or undefined when it is. */
function staleReason(stamp: Stamp | undefined, env: string): string | undefined {
  if (!stamp) return 'no finished build in dist/';
  if (stamp.env !== env) return 'package.json, package-lock.json, TypeScript or scripts/build.ts changed';
  const missing = stamp.inputs.outputs.find((file) => !existsSync(join(root, file)));
  if (missing) return `the output ${missing} is missing`;
  // Unchanged configs and folders mean unchanged lists of inputs, so the stamp's lists still hold.
  if (stamp.sources !== hashInputs(stamp.inputs)) return 'sources or tsconfig changed';
  if (!stamp.ok) return 'the last build failed';
  return undefined;
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

/** TypeScript's own reading of the config (only when building); undefined when it has errors. */
function readInputs(typescript: string): Inputs | undefined {
  const ts = createRequire(join(root, 'package.json'))(typescript) as typeof import('typescript');
  const parsed = ts.getParsedCommandLineOfConfigFile(join(root, PROJECT), undefined, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => undefined });
  if (!parsed || parsed.errors.length) return undefined;
  const { outDir, rootDir } = parsed.options;
  const buildInfo = ts.getTsBuildInfoEmitOutputFilePath({ ...parsed.options, incremental: true });
  if (!outDir || !rootDir || !buildInfo) return undefined;
  const rel = (path: string): string => relative(root, path).split(sep).join('/');
  return {
    configs: [join(root, PROJECT), ...((parsed.options.configFile as import('typescript').TsConfigSourceFile | undefined)?.extendedSourceFiles ?? [])].map(rel),
    folders: Object.entries(parsed.wildcardDirectories ?? {}).map(([path, flags]) => ({ path: rel(path), recursive: (flags & ts.WatchDirectoryFlags.Recursive) !== 0 })),
    files: parsed.fileNames.map(rel),
    outputs: parsed.fileNames.filter((f) => !/\.d\.[mc]?ts$/.test(f) && /\.[mc]?ts$/.test(f)).map((f) => rel(join(outDir, relative(rootDir, f)).replace(/\.(m|c)?ts$/, '.$1js'))),
    buildInfo: rel(buildInfo),
  };
}

/**
 * The hash of the configs, every file under the folders (a JSON file a source imports, say: more
 * than tsc reads only costs a rebuild now and then) and the named files.
 */
function hashInputs(inputs: Inputs): string {
  const files = new Set([...inputs.configs, ...inputs.files]);
  for (const folder of inputs.folders) {
    const path = join(root, folder.path);
    if (!existsSync(path)) continue;
    for (const name of readdirSync(path, { recursive: folder.recursive, encoding: 'utf8' })) {
      if (statSync(join(path, name)).isFile()) files.add(`${folder.path}/${name.split(sep).join('/')}`);
    }
  }
  return hashFiles([...files].sort(), JSON.stringify({ ...inputs, files: undefined }));
}

function hashFiles(files: string[], extra: string): string {
  const hash = createHash('sha256').update(extra);
  for (const file of files) {
    const path = join(root, file);
    const exists = existsSync(path);
    // A missing file (no lock file yet) hashes differently from an empty one.
    hash.update(`\0${file}\0${exists ? statSync(path).size : -1}\0`);
    if (exists) hash.update(readFileSync(path));
  }
  return hash.digest('hex');
}

function readStamp(): Stamp | undefined {
  try {
    const stamp = JSON.parse(readFileSync(STAMP, 'utf8')) as Partial<Stamp>;
    const inputs = stamp.inputs;
    const valid = typeof stamp.env === 'string' && typeof stamp.sources === 'string' && typeof stamp.ok === 'boolean' && Array.isArray(inputs?.configs) && Array.isArray(inputs.folders) && Array.isArray(inputs.files) && Array.isArray(inputs.outputs) && typeof inputs.buildInfo === 'string';
    return valid ? (stamp as Stamp) : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place: a reader sees the old stamp, none, or the new one. */
function writeStamp(stamp: Stamp): void {
  mkdirSync(OUT_DIR, { recursive: true });
  const temporary = `${STAMP}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(stamp, null, 2)}\n`);
  renameSync(temporary, STAMP);
}
