import { spawn } from 'node:child_process';
import { access, constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { AiProviderError, AiUnavailableError, type Transcript, type TranscriptSegment } from '../ai.port.js';
import { FfmpegError, fileUrl, runFfmpeg } from '../../media/ffmpeg.js';
import { killFirstUnderMemoryPressure, underDataCap } from '../../media/sandbox/process-caps.js';

/**
 * Transcription with whisper.cpp's command-line tool (`whisper-cli`), run on the machine: the
 * recording never leaves it. whisper.cpp reads 16 kHz mono 16-bit WAV only, so ffmpeg converts
 * first. The binary and a ggml model file are configured, not bundled (they are large).
 */

export interface WhisperSettings {
  /** Path to whisper.cpp's `whisper-cli` (formerly `main`). */
  binary: string | null;
  /** Path to a ggml model file, e.g. ggml-base.bin. */
  model: string | null;
  threads?: number;
  /** Memory the CLI may allocate, MiB (RLIMIT_DATA through prlimit; 0: no cap; default 6144: a large model and its buffers). */
  memoryMb?: number;
  /** How long one recording may take, ms (default an hour: CPU transcription of a long recording is slow). */
  timeoutMs?: number;
}

const STDERR_KEEP = 4096;
export const DEFAULT_WHISPER_MEMORY_MB = 6144;
export const DEFAULT_WHISPER_TIMEOUT_MS = 60 * 60_000;

export async function transcribeWithWhisperCpp(settings: WhisperSettings, audioPath: string, signal?: AbortSignal): Promise<Transcript> {
  const { binary, model } = settings;
  if (!binary || !model) {
    throw new AiUnavailableError('No transcription backend is configured (set WHISPER_CPP_PATH and WHISPER_MODEL_PATH, or an OpenAI-compatible server)');
  }
  // A wrong path is a setup problem, not a failed transcription: say which file is missing.
  if (!(await usable(binary, constants.X_OK))) throw new AiUnavailableError(`whisper.cpp was not found or cannot be run at ${binary}`);
  if (!(await usable(model, constants.R_OK))) throw new AiUnavailableError(`The whisper model file was not found at ${model}`);
  signal?.throwIfAborted();

  const dir = await mkdtemp(join(tmpdir(), 'dmc-whisper-'));
  try {
    const wav = join(dir, 'audio.wav');
    const out = join(dir, 'transcript');
    await toWhisperWav(audioPath, wav, signal);
    const threads = Math.max(1, Math.floor(settings.threads ?? Math.min(4, availableParallelism())));
    await runWhisper({ binary, args: ['-m', model, '-f', wav, '-oj', '-of', out, '-l', 'auto', '-t', String(threads)], settings, signal });
    return parseWhisperJson(await readFile(`${out}.json`, 'utf8'), basename(model));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function usable(path: string, mode: number): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

async function toWhisperWav(input: string, wav: string, signal?: AbortSignal): Promise<void> {
  try {
    await runFfmpeg(['-v', 'error', '-y', '-i', fileUrl(input), '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', '-f', 'wav', fileUrl(wav)], { signal });
  } catch (err) {
    // ffmpeg exiting badly, or at its memory or time limit, means the recording cannot be decoded; retrying will not change that.
    if (err instanceof FfmpegError) {
      throw new AiProviderError('The recording could not be converted for transcription: it may be damaged', false);
    }
    throw err;
  }
}

interface WhisperRun {
  binary: string;
  args: string[];
  settings: WhisperSettings;
  signal?: AbortSignal;
}

/**
 * Runs the CLI with an argument array (never a shell) under its memory cap and time limit, first
 * in line for the OOM killer; stdout (the text again) is not needed. A recording that makes it run
 * out of memory or time, or crash, fails for good: the same recording would do it again.
 */
function runWhisper({ binary, args, settings, signal }: WhisperRun): Promise<void> {
  signal?.throwIfAborted();
  const memoryMb = settings.memoryMb ?? DEFAULT_WHISPER_MEMORY_MB;
  const timeoutMs = settings.timeoutMs ?? DEFAULT_WHISPER_TIMEOUT_MS;
  return new Promise<void>((resolve, reject) => {
    const [program, argv] = underDataCap(binary, args, memoryMb);
    const child = spawn(program, argv, { stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
    killFirstUnderMemoryPressure(child);
    let stderr = '';
    let stopped: Error | null = null;
    const stop = (err: Error): void => {
      stopped ??= err;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => stop(signal?.reason instanceof Error ? signal.reason : new Error('Aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => stop(new AiProviderError(`Transcription took longer than the ${Math.round(timeoutMs / 60_000)} minutes one recording may take`, false)), timeoutMs);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on('error', (err) => {
      stopped ??= new AiUnavailableError(`whisper.cpp could not be started: ${err.message}`);
    });
    child.on('close', (code, killedBy) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (stopped) return reject(stopped);
      if (code === 0) return resolve();
      // Under the cap, running out shows as an allocation error or a signal (SIGKILL: the OOM killer).
      if (killedBy || OUT_OF_MEMORY.test(stderr)) {
        return reject(new AiProviderError(`Transcription needs more than the ${memoryMb} MB of memory one recording may use, or whisper.cpp stops on it`, false));
      }
      const last = stderr.trim().split('\n').pop()?.trim() || `exit ${code}`;
      reject(new AiProviderError(`whisper.cpp failed: ${last}`, false));
    });
  });
}

const OUT_OF_MEMORY = /out of memory|allocation failed|failed to allocate|bad_alloc|cannot allocate memory/i;

interface WhisperJson {
  result?: { language?: unknown };
  transcription?: Array<{ offsets?: { from?: unknown; to?: unknown }; text?: unknown }>;
}

/** Bracketed non-speech markers whisper writes: "[BLANK_AUDIO]", "[Music]", "(birds chirping)". */
const NON_SPEECH = /^\s*(?:\[[^\]]*\]|\([^)]*\))\s*$/;

/** whisper.cpp's `-oj` output: offsets in milliseconds, text with a leading space. */
export function parseWhisperJson(raw: string, model: string): Transcript {
  let json: WhisperJson;
  try {
    json = JSON.parse(raw) as WhisperJson;
  } catch {
    throw new AiProviderError('whisper.cpp wrote a transcript that could not be read', false);
  }
  if (!Array.isArray(json.transcription)) {
    throw new AiProviderError('whisper.cpp wrote a transcript without segments', false);
  }
  const segments: TranscriptSegment[] = [];
  for (const item of json.transcription) {
    const text = typeof item.text === 'string' ? item.text.replace(/\s+/g, ' ').trim() : '';
    if (text === '' || NON_SPEECH.test(text)) continue;
    const from = Number(item.offsets?.from);
    const to = Number(item.offsets?.to);
    if (!Number.isFinite(from) || !Number.isFinite(to)) continue;
    segments.push({ start: from / 1000, end: Math.max(from, to) / 1000, text });
  }
  const language = typeof json.result?.language === 'string' && /^[a-z]{2,3}$/i.test(json.result.language) ? json.result.language.toLowerCase() : null;
  return { provider: 'local', model, language, segments, text: segments.map((s) => s.text).join(' ') };
}
