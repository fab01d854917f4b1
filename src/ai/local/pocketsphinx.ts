import { constants, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { AiUnavailableError, type Transcript, type TranscriptSegment } from '../ai.port.js';
import { runSpeechTool, toSpeechWav, usable } from './speech-tool.js';

/**
 * Rough offline transcription with CMU pocketsphinx (`pocketsphinx_continuous`, Debian's
 * `pocketsphinx` and `pocketsphinx-en-us`), for machines without whisper.cpp. Its words are often
 * wrong (about a third on a clean reading, see docs/ai.md "Speech"), so its transcripts are marked rough:
 * kept and searchable, never quoted as what someone said. With `-time yes` it prints, per
 * utterance it finds between pauses, each word with its start, end and posterior probability;
 * those give the timed segments and the confidence.
 */

export interface PocketsphinxSettings {
  /** `pocketsphinx_continuous`; null: the one on PATH (Debian installs it in /usr/bin). */
  binary: string | null;
  /**
   * A model folder as Debian's pocketsphinx-en-us lays it out: an acoustic model folder (with
   * `mdef`), a language model (`*.lm.bin`) and a dictionary (`*.dict`). null: Debian's.
   */
  modelDir: string | null;
  /** Memory it may allocate, MiB (RLIMIT_DATA through prlimit; 0: no cap). It needs about 110 MB. */
  memoryMb?: number;
  /** How long one recording may take, ms. */
  timeoutMs?: number;
}

export const DEBIAN_POCKETSPHINX_MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';
const PROGRAM = 'pocketsphinx_continuous';
const DEBIAN_BINARY = `/usr/bin/${PROGRAM}`;
export const DEFAULT_POCKETSPHINX_MEMORY_MB = 512;
export const DEFAULT_POCKETSPHINX_TIMEOUT_MS = 60 * 60_000;
/** About 30 bytes a word; an hour of speech is under 1 MB. */
const STDOUT_LIMIT = 32 * 1024 * 1024;
/** A segment grows to about this many seconds before it is cut at the next pause, and never past twice it. */
const SEGMENT_SECONDS = 15;

export interface PocketsphinxModel {
  /** The acoustic model folder (-hmm). */
  hmm: string;
  /** The language model (-lm). */
  lm: string;
  /** The pronunciation dictionary (-dict). */
  dict: string;
  /** "pocketsphinx-en-us" */
  name: string;
  language: string | null;
}

/**
 * The binary and model to use, or null when pocketsphinx is not installed (nor configured).
 * Configured paths that are missing are a setup error, said as such.
 */
export async function findPocketsphinx(settings: PocketsphinxSettings): Promise<{ binary: string; model: PocketsphinxModel } | null> {
  // Debian's path too, for services started with a bare PATH.
  const binary = settings.binary ?? (await onPath(PROGRAM)) ?? ((await usable(DEBIAN_BINARY, constants.X_OK)) ? DEBIAN_BINARY : null);
  if (!binary) return null;
  if (!(await usable(binary, constants.X_OK))) {
    if (settings.binary) throw new AiUnavailableError(`pocketsphinx was not found or cannot be run at ${binary}`);
    return null;
  }
  const dir = settings.modelDir ?? DEBIAN_POCKETSPHINX_MODEL_DIR;
  const model = await readModelDir(dir);
  if (model) return { binary, model };
  if (settings.modelDir) throw new AiUnavailableError(`No pocketsphinx model (an acoustic model folder, a *.lm.bin language model and a *.dict dictionary) was found in ${dir}`);
  // The program without its model (Debian's pocketsphinx without pocketsphinx-en-us) cannot transcribe.
  return null;
}

async function onPath(program: string): Promise<string | null> {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const path = join(dir, program);
    if (await usable(path, constants.X_OK)) return path;
  }
  return null;
}

async function readModelDir(dir: string): Promise<PocketsphinxModel | null> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => null);
  if (!entries) return null;
  const names = entries.map((e) => e.name).sort();
  // The phone language model (en-us-phone.lm.bin) is for phoneme decoding, not words.
  const lm = names.find((n) => n.endsWith('.lm.bin') && !n.includes('phone')) ?? names.find((n) => /\.(?:lm|lm\.dmp|arpa)$/i.test(n));
  const dict = names.find((n) => n.endsWith('.dict'));
  let hmm: string | undefined;
  for (const entry of entries) {
    if (entry.isDirectory() && (await stat(join(dir, entry.name, 'mdef')).catch(() => null))) hmm = entry.name;
  }
  if (!lm || !dict || !hmm) return null;
  const tag = /^([a-z]{2,3})(?:[-_][a-z]{2})?$/i.exec(hmm);
  return { hmm: join(dir, hmm), lm: join(dir, lm), dict: join(dir, dict), name: `pocketsphinx-${hmm}`, language: tag?.[1]?.toLowerCase() ?? null };
}

/** Transcribes with pocketsphinx when it is installed; AiUnavailableError when it is not. */
export async function transcribeWithPocketsphinx(settings: PocketsphinxSettings, audioPath: string, signal?: AbortSignal): Promise<Transcript> {
  const found = await findPocketsphinx(settings);
  if (!found) throw new AiUnavailableError('pocketsphinx is not installed (Debian: apt install pocketsphinx pocketsphinx-en-us)');
  return runPocketsphinx(found, settings, audioPath, signal);
}

/** One recording through the pocketsphinx that findPocketsphinx found. */
export async function runPocketsphinx(
  { binary, model }: { binary: string; model: PocketsphinxModel },
  settings: PocketsphinxSettings,
  audioPath: string,
  signal?: AbortSignal,
): Promise<Transcript> {
  signal?.throwIfAborted();
  const dir = await mkdtemp(join(tmpdir(), 'dmc-pocketsphinx-'));
  try {
    // Raw samples (16 kHz is its default -samprate): its WAV reader expects a bare 44-byte header.
    const pcm = join(dir, 'audio.raw');
    await toSpeechWav(audioPath, pcm, signal, 's16le');
    const out = await runSpeechTool({
      tool: 'pocketsphinx',
      binary,
      args: ['-infile', pcm, '-hmm', model.hmm, '-lm', model.lm, '-dict', model.dict, '-time', 'yes'],
      memoryMb: settings.memoryMb ?? DEFAULT_POCKETSPHINX_MEMORY_MB,
      timeoutMs: settings.timeoutMs ?? DEFAULT_POCKETSPHINX_TIMEOUT_MS,
      signal,
      stdoutLimit: STDOUT_LIMIT,
    });
    return parsePocketsphinxOutput(out, model);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

interface Word {
  text: string;
  start: number;
  end: number;
  posterior: number;
}

/** `word start end posterior`, times in seconds from the start of the file; `and(2)` is the second pronunciation of "and". */
const WORD_LINE = /^(\S+) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?) (\d+(?:\.\d+)?(?:e[-+]?\d+)?)$/i;
/** Silence, noise and utterance marks: <s>, </s>, <sil>, [NOISE], [SPEECH], ++UM++. */
const FILLER = /^(?:<[^>]*>|\[[^\]]*\]|\+\+.*\+\+)$/;

/**
 * `-time yes` output: per utterance, the hypothesis on one line, then one line per word (and
 * filler). Segments are utterances, cut at a pause once they grow past SEGMENT_SECONDS (and at a
 * word past twice that); the confidence is the mean posterior of the words heard.
 */
export function parsePocketsphinxOutput(stdout: string, model: Pick<PocketsphinxModel, 'name' | 'language'>): Transcript {
  const segments: TranscriptSegment[] = [];
  let words: Word[] = [];
  let heard = 0;
  let sure = 0;
  const flush = (): void => {
    const first = words[0];
    const last = words.at(-1);
    if (first && last) {
      // Times never run backwards from one segment to the next.
      const start = Math.max(first.start, segments.at(-1)?.end ?? 0);
      segments.push({ start, end: Math.max(start, last.end), text: words.map((w) => w.text).join(' ') });
    }
    words = [];
  };
  for (const line of stdout.split('\n')) {
    const match = WORD_LINE.exec(line.trim());
    if (!match) continue;
    const [, token = '', from, to, p] = match;
    const start = Number(from);
    const end = Number(to);
    const posterior = Math.min(1, Math.max(0, Number(p)));
    if (token === '</s>' || (token === '<sil>' && (words[0] ? end - words[0].start : 0) >= SEGMENT_SECONDS)) {
      flush();
      continue;
    }
    if (FILLER.test(token)) continue;
    const text = token.replace(/\(\d+\)$/, '');
    if (!text) continue;
    if (words[0] && end - words[0].start > 2 * SEGMENT_SECONDS) flush();
    words.push({ text, start, end, posterior });
    heard += 1;
    sure += posterior;
  }
  flush();
  return {
    provider: 'local',
    model: model.name,
    language: model.language,
    segments,
    text: segments.map((s) => s.text).join(' '),
    rough: true,
    confidence: heard ? Math.round((sure / heard) * 1000) / 1000 : null,
  };
}
