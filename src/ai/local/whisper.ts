import { constants, mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { AiProviderError, AiUnavailableError, type Transcript, type TranscriptSegment } from '../ai.port.js';
import { runSpeechTool, toSpeechWav, usable } from './speech-tool.js';

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
    await toSpeechWav(audioPath, wav, signal);
    const threads = Math.max(1, Math.floor(settings.threads ?? Math.min(4, availableParallelism())));
    // stdout (the text again) is not needed: the transcript is read from the JSON file.
    await runSpeechTool({
      tool: 'whisper.cpp',
      binary,
      args: ['-m', model, '-f', wav, '-oj', '-of', out, '-l', 'auto', '-t', String(threads)],
      memoryMb: settings.memoryMb ?? DEFAULT_WHISPER_MEMORY_MB,
      timeoutMs: settings.timeoutMs ?? DEFAULT_WHISPER_TIMEOUT_MS,
      signal,
    });
    return parseWhisperJson(await readFile(`${out}.json`, 'utf8'), basename(model));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

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
  return { provider: 'local', model, language, segments, text: segments.map((s) => s.text).join(' '), rough: false, confidence: null };
}
