import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { MediaError, type MediaLocation } from './pipeline.types.js';
import { underAddressSpaceCap } from './sandbox/process-caps.js';

/**
 * The ffmpeg and ffprobe binaries, and what their output means. Processes are spawned with
 * argument arrays (never a shell), so a file name can never become a command.
 */

const require = createRequire(import.meta.url);

/** ffmpeg's stderr can be megabytes on a broken file; the tail says why it failed. */
const STDERR_KEEP = 4096;
const PROBE_TIMEOUT_MS = 30_000;
const FFMPEG_TIMEOUT_MS = 10 * 60_000;

export interface RunOptions {
  /** Kills the process when aborted (worker shutdown). */
  signal?: AbortSignal;
  /** Kills the process after this long; a hung decoder must not hold a job forever. */
  timeoutMs?: number;
}

/**
 * How a process ended badly: `exit` with an error code (it read the file and gave up), `memory`
 * (it said it could not allocate under its cap), `crash` (a signal it did not get from us: under
 * the address-space cap, a decoder that runs out mostly dies by SIGSEGV), `time` (killed at its
 * time limit). Each says something about the file, so none is worth a retry.
 */
export type FfmpegEnd = 'exit' | 'memory' | 'crash' | 'time';

/** A process that exited badly. `exitCode` is null when it was killed by a signal. */
export class FfmpegError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly end: FfmpegEnd = 'exit',
  ) {
    super(message);
    this.name = 'FfmpegError';
  }
}

/** Limits of every ffmpeg and ffprobe process (MEDIA_TOOL_MEMORY_MB in config.ts). */
export interface MediaToolLimits {
  /** Address space of each process, MiB (RLIMIT_AS through util-linux `prlimit`); 0: no cap. */
  memoryMb: number;
}

/** Room for a 4K decode and libx264's frame threads; a file needing more is not a family's video. */
export const DEFAULT_MEDIA_TOOL_LIMITS: MediaToolLimits = { memoryMb: 3072 };
let toolLimits = DEFAULT_MEDIA_TOOL_LIMITS;

/** Set once at start (worker/worker.ts), before any job runs. */
export function setMediaToolLimits(limits: MediaToolLimits): void {
  toolLimits = limits;
}

/** The process to spawn for `binary`: behind prlimit's address-space cap when one is set. */
const capped = (binary: string, args: readonly string[]): [string, string[]] => underAddressSpaceCap(binary, args, toolLimits.memoryMb);

/**
 * A MediaError for people when ffmpeg or ffprobe failed on the file: `${subject}: ${damaged}` for
 * a plain error exit, the limit it met otherwise. Anything else (the job stopping, a missing
 * binary) is returned unchanged, to stay transient.
 */
export function mediaToolFailure(err: unknown, subject: string, damaged: string): unknown {
  if (!(err instanceof FfmpegError)) return err;
  switch (err.end) {
    case 'exit':
      return new MediaError(`${subject}: ${damaged}`);
    case 'memory':
    case 'crash':
      return new MediaError(`${subject}: decoding it needs more than the ${toolLimits.memoryMb} MB of memory one file may use, or the decoder stops on it`);
    case 'time':
      return new MediaError(`${subject}: it takes longer to decode than one file may take`);
  }
}

// Resolved lazily: the installer packages throw on platforms they have no binary for, and an
// environment override must work there.
export const ffmpegPath = (): string =>
  process.env.FFMPEG_PATH || (require('@ffmpeg-installer/ffmpeg') as { path: string }).path;
export const ffprobePath = (): string =>
  process.env.FFPROBE_PATH || (require('@ffprobe-installer/ffprobe') as { path: string }).path;

/** The parts of ffprobe's JSON we read. Numbers arrive as strings, except a few. */
export interface ProbeStream {
  index: number;
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  duration?: string;
  sample_rate?: string;
  channels?: number;
  bit_rate?: string;
  tags?: Record<string, string>;
  disposition?: Record<string, number>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
}

export interface ProbeFormat {
  format_name?: string;
  duration?: string;
  bit_rate?: string;
  tags?: Record<string, string>;
}

export interface ProbeResult {
  streams: ProbeStream[];
  format: ProbeFormat;
}

/** Runs ffprobe on a local file. An unreadable file is a MediaError; retrying will not fix it. */
export async function ffprobe(path: string, options: RunOptions = {}): Promise<ProbeResult> {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', fileUrl(path)];
  let stdout: Buffer;
  try {
    stdout = await run(ffprobePath(), args, { timeoutMs: PROBE_TIMEOUT_MS, ...options });
  } catch (err) {
    throw mediaToolFailure(err, 'The file could not be read as audio or video', 'it may be damaged or incomplete');
  }
  const parsed = JSON.parse(stdout.toString('utf8')) as Partial<ProbeResult>;
  if (!parsed.format || !parsed.streams?.length) {
    throw new MediaError('The file could not be read as audio or video: no sound or picture was found in it');
  }
  return { streams: parsed.streams, format: parsed.format };
}

/** Runs ffmpeg and returns everything it wrote to stdout. */
export async function runFfmpeg(args: readonly string[], options: RunOptions = {}): Promise<Buffer> {
  return run(ffmpegPath(), ['-nostdin', ...args], { timeoutMs: FFMPEG_TIMEOUT_MS, ...options });
}

/** Runs ffmpeg and hands stdout over chunk by chunk, for outputs too big to hold (decoded PCM). */
export async function streamFfmpeg(
  args: readonly string[],
  onChunk: (chunk: Buffer) => void,
  options: RunOptions = {},
): Promise<void> {
  await run(ffmpegPath(), ['-nostdin', ...args], { timeoutMs: FFMPEG_TIMEOUT_MS, ...options }, onChunk);
}

/**
 * An input path as ffmpeg should see it. Without `file:` a name like `concat:a|b` or `http:…`
 * would pick another protocol, and one starting with `-` would read as an option.
 */
export const fileUrl = (path: string): string => `file:${path}`;

/** Collects stdout unless `onChunk` consumes it (then the returned buffer is empty). */
function run(
  binary: string,
  args: readonly string[],
  options: RunOptions,
  onChunk?: (chunk: Buffer) => void,
): Promise<Buffer> {
  const { signal, timeoutMs } = options;
  signal?.throwIfAborted();
  return new Promise<Buffer>((resolve, reject) => {
    const [command, argv] = capped(binary, args);
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const out: Buffer[] = [];
    let stderr = '';
    let stopped: Error | null = null;

    const stop = (reason: Error): void => {
      stopped ??= reason;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => stop(signal?.reason instanceof Error ? signal.reason : new Error('Aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = timeoutMs
      ? setTimeout(() => stop(new FfmpegError(`${name(binary)} took longer than ${timeoutMs} ms`, null, '', 'time')), timeoutMs)
      : undefined;

    child.stdout.on('data', (chunk: Buffer) => {
      if (stopped) return;
      if (!onChunk) return void out.push(chunk);
      try {
        onChunk(chunk);
      } catch (err) {
        // A consumer that gives up stops the process rather than reading to the end.
        stop(err instanceof Error ? err : new Error(String(err)));
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on('error', (err) => stop(err));
    child.on('close', (code, killedBy) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (stopped) return reject(stopped);
      if (code === 0) return resolve(Buffer.concat(out));
      const why = stderr.trim().split('\n').slice(-3).join(' | ') || `exit ${code ?? killedBy}`;
      const end: FfmpegEnd = code === null ? 'crash' : /cannot allocate memory|malloc of size|out of memory/i.test(stderr) ? 'memory' : 'exit';
      reject(new FfmpegError(`${name(binary)} failed: ${why}`, code, stderr, end));
    });
  });
}

const name = (binary: string): string => binary.split(/[\\/]/).pop() ?? binary;

// ---- Reading ffprobe tags ------------------------------------------------------------------

/** Tag keys differ in case between muxers (`creation_time`, `Creation_Time`); compare lower-cased. */
export function tag(tags: Record<string, string> | undefined, ...keys: string[]): string | undefined {
  if (!tags) return undefined;
  const wanted = keys.map((k) => k.toLowerCase());
  for (const key of wanted) {
    for (const [k, v] of Object.entries(tags)) if (k.toLowerCase() === key && v.trim()) return v.trim();
  }
  return undefined;
}

export const numberOrNull = (value: string | number | undefined): number | null => {
  const n = typeof value === 'number' ? value : Number.parseFloat(value ?? '');
  return Number.isFinite(n) ? n : null;
};

/**
 * When the recording was made. Apple's `creationdate` is the capture time with its offset and
 * survives edits, so it wins over `creation_time`, which some apps rewrite on export. Containers
 * written without a clock carry 1904/1970 epoch dates: those mean "unknown".
 */
export function probeDate(probe: ProbeResult): Date | null {
  const raw =
    tag(probe.format.tags, 'com.apple.quicktime.creationdate', 'creation_time', 'date') ??
    probe.streams.map((s) => tag(s.tags, 'creation_time')).find((v) => v !== undefined);
  if (!raw) return null;
  // V8 reads "+0200" offsets, but not every producer writes a "T"; normalise before parsing.
  const date = new Date(raw.replace(/^(\d{4}-\d{2}-\d{2}) (\d)/, '$1T$2'));
  if (Number.isNaN(date.getTime()) || date.getUTCFullYear() <= 1970) return null;
  return date;
}

/** Where the recording was made, from the ISO 6709 string phones write (`location`, Apple's key). */
export function probeLocation(probe: ProbeResult): MediaLocation | null {
  const raw = tag(probe.format.tags, 'com.apple.quicktime.location.ISO6709', 'location', 'location-eng');
  return raw ? parseIso6709(raw) : null;
}

/**
 * Parses ISO 6709 points such as `+48.8584+002.2945+035.000/`. Degrees may also be written as
 * ±DDMM.M or ±DDMMSS.S (longitude ±DDDMM…), which the integer digit count tells apart.
 * `+00.0000+000.0000` is what devices write without a fix, so it counts as no location.
 */
export function parseIso6709(raw: string): MediaLocation | null {
  const m = /^([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?/.exec(raw.trim());
  if (!m) return null;
  const latitude = degrees(m[1]!, 2);
  const longitude = degrees(m[2]!, 3);
  if (latitude === null || longitude === null) return null;
  if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return null;
  if (latitude === 0 && longitude === 0) return null;
  const altitude = m[3] ? Number.parseFloat(m[3]) : null;
  return { latitude, longitude, altitude };
}

function degrees(part: string, degreeDigits: 2 | 3): number | null {
  const sign = part.startsWith('-') ? -1 : 1;
  const [int = '', frac = ''] = part.slice(1).split('.');
  const fraction = frac ? Number.parseFloat(`0.${frac}`) : 0;
  let value: number;
  if (int.length === degreeDigits) value = Number(int) + fraction;
  else if (int.length === degreeDigits + 2) {
    value = Number(int.slice(0, degreeDigits)) + (Number(int.slice(degreeDigits)) + fraction) / 60;
  } else if (int.length === degreeDigits + 4) {
    const d = Number(int.slice(0, degreeDigits));
    const mins = Number(int.slice(degreeDigits, degreeDigits + 2));
    const secs = Number(int.slice(degreeDigits + 2)) + fraction;
    value = d + mins / 60 + secs / 3600;
  } else return null;
  return Number.isFinite(value) ? sign * value : null;
}
