import { spawn } from 'node:child_process';
import { access } from 'node:fs/promises';
import { AiProviderError, AiUnavailableError } from '../ai.port.js';
import { FfmpegError, fileUrl, runFfmpeg } from '../../media/ffmpeg.js';
import { killFirstUnderMemoryPressure, underDataCap } from '../../media/sandbox/process-caps.js';

/**
 * What the command-line speech engines (whisper.cpp, pocketsphinx) share: the 16 kHz mono WAV
 * they read, and how one is run on a recording — an argument array (never a shell), a kernel cap
 * on what it allocates, first in line for the OOM killer, a time limit, killed when the job stops.
 */

const STDERR_KEEP = 4096;

/** Whether `path` exists and allows `mode` (fs.constants.X_OK, R_OK). */
export async function usable(path: string, mode: number): Promise<boolean> {
  try {
    await access(path, mode);
    return true;
  } catch {
    return false;
  }
}

/**
 * The recording as 16 kHz mono 16-bit PCM, what both engines read (ffmpeg: the bundled one, or
 * FFMPEG_PATH): a WAV file, or headerless samples (`s16le`) for pocketsphinx, which takes the
 * first 44 bytes of a .wav for its header and would hear ffmpeg's LIST chunk as sound.
 */
export async function toSpeechWav(input: string, out: string, signal?: AbortSignal, format: 'wav' | 's16le' = 'wav'): Promise<void> {
  try {
    await runFfmpeg(['-v', 'error', '-y', '-i', fileUrl(input), '-vn', '-ac', '1', '-ar', '16000', '-c:a', 'pcm_s16le', '-f', format, fileUrl(out)], { signal });
  } catch (err) {
    // ffmpeg exiting badly, or at its memory or time limit, means the recording cannot be decoded; retrying will not change that.
    if (err instanceof FfmpegError) {
      throw new AiProviderError('The recording could not be converted for transcription: it may be damaged', false);
    }
    throw err;
  }
}

export interface SpeechToolRun {
  /** The engine's name in messages for people ("whisper.cpp"). */
  tool: string;
  binary: string;
  args: string[];
  /** RLIMIT_DATA, MiB (0: no cap). */
  memoryMb: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Collect stdout, up to this many bytes (more fails the run); absent: stdout is ignored. */
  stdoutLimit?: number;
}

/**
 * Runs one engine on one recording and resolves with what it printed (when `stdoutLimit` is set).
 * A recording that makes it run out of memory or time, or crash, fails for good: the same
 * recording would do it again. A binary that cannot be started is unavailable, not failed.
 */
export function runSpeechTool({ tool, binary, args, memoryMb, timeoutMs, signal, stdoutLimit }: SpeechToolRun): Promise<string> {
  signal?.throwIfAborted();
  return new Promise<string>((resolve, reject) => {
    const [program, argv] = underDataCap(binary, args, memoryMb);
    const child = spawn(program, argv, { stdio: ['ignore', stdoutLimit === undefined ? 'ignore' : 'pipe', 'pipe'], windowsHide: true });
    killFirstUnderMemoryPressure(child);
    const out: Buffer[] = [];
    let outBytes = 0;
    let stderr = '';
    let stopped: Error | null = null;
    const stop = (err: Error): void => {
      stopped ??= err;
      child.kill('SIGKILL');
    };
    const onAbort = (): void => stop(signal?.reason instanceof Error ? signal.reason : new Error('Aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => stop(new AiProviderError(`Transcription took longer than the ${Math.round(timeoutMs / 60_000)} minutes one recording may take`, false)), timeoutMs);
    child.stdout?.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (stdoutLimit !== undefined && outBytes > stdoutLimit) return stop(new AiProviderError(`${tool} wrote more than a transcript of one recording can be`, false));
      out.push(chunk);
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_KEEP);
    });
    child.on('error', (err) => {
      stopped ??= new AiUnavailableError(`${tool} could not be started: ${err.message}`);
    });
    child.on('close', (code, killedBy) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (stopped) return reject(stopped);
      if (code === 0) return resolve(Buffer.concat(out).toString('utf8'));
      // Under the cap, running out shows as an allocation error or a signal (SIGKILL: the OOM killer).
      if (killedBy || OUT_OF_MEMORY.test(stderr)) {
        return reject(new AiProviderError(`Transcription needs more than the ${memoryMb} MB of memory one recording may use, or ${tool} stops on it`, false));
      }
      reject(new AiProviderError(`${tool} failed: ${lastError(stderr) || `exit ${code}`}`, false));
    });
  });
}

/** pocketsphinx says `calloc(120011,32) failed from …hash_table.c(165)` when its cap is met. */
const OUT_OF_MEMORY = /out of memory|allocation failed|failed to allocate|bad_alloc|cannot allocate memory|\b[cm]alloc\([^)]*\) failed/i;

/** The line that says why: the last ERROR line when the engine logs levels (pocketsphinx), else the last line. */
function lastError(stderr: string): string {
  const lines = stderr.trim().split('\n').map((line) => line.trim()).filter(Boolean);
  return (lines.findLast((line) => line.startsWith('ERROR:')) ?? lines.at(-1) ?? '').replace(/^ERROR:\s*(?:"[^"]*", line \d+:\s*)?/, '');
}
