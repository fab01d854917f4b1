import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { findPocketsphinx } from '../../src/ai/local/pocketsphinx.js';
import { ffmpegPath } from '../../src/media/ffmpeg.js';

/**
 * Real speech with its known text: Debian's pocketsphinx-testdata, five sentences of a LibriVox
 * reading of Sense and Sensibility (16 kHz mono WAV, 3 to 7 s each) and their transcription.
 * `.ci/run` installs the package, with pocketsphinx and its English model.
 */

export const LIBRIVOX = '/usr/share/pocketsphinx/test/data/librivox';

/** pocketsphinx, its model and the recordings are all here: what the speech tests need to run. */
export const pocketsphinxInstalled =
  existsSync(join(LIBRIVOX, 'transcription')) && (await findPocketsphinx({ binary: null, modelDir: null }).catch(() => null)) !== null;

export interface Recording {
  id: string;
  wav: string;
  /** What the reader says, lower case, as the package's transcription gives it. */
  text: string;
}

/** The LibriVox recordings, in the package's order (`fileids`). */
export async function librivoxRecordings(): Promise<Recording[]> {
  const lines = (await readFile(join(LIBRIVOX, 'transcription'), 'utf8')).split('\n');
  const ids = (await readFile(join(LIBRIVOX, 'fileids'), 'utf8')).split('\n').map((l) => l.trim()).filter(Boolean);
  const texts = new Map<string, string>();
  for (const line of lines) {
    // "<s> he was not an ill disposed young man </s> (sense_and_sensibility_01_austen_64kb-0880)"
    const match = /^<s>\s*(.*?)\s*<\/s>\s*\(([^)]+)\)\s*$/.exec(line.trim());
    if (match) texts.set(match[2]!, match[1]!);
  }
  return ids.map((id) => ({ id, wav: join(LIBRIVOX, `${id}.wav`), text: texts.get(id) ?? '' }));
}

/** Lower case words, punctuation dropped (pocketsphinx writes "s." for the letter). */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}' ]+/gu, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** Word-level edit distance: substitutions + deletions + insertions to turn `reference` into `hypothesis`. */
export function wordEdits(reference: readonly string[], hypothesis: readonly string[]): number {
  let previous = Array.from({ length: hypothesis.length + 1 }, (_, j) => j);
  for (let i = 1; i <= reference.length; i++) {
    const row = [i];
    for (let j = 1; j <= hypothesis.length; j++) {
      const same = reference[i - 1] === hypothesis[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + same);
    }
    previous = row;
  }
  return previous[hypothesis.length]!;
}

/** Word error rate of `hypothesis` against `reference` (edits / reference words). */
export function wordErrorRate(reference: string, hypothesis: string): number {
  const ref = words(reference);
  return wordEdits(ref, words(hypothesis)) / Math.max(1, ref.length);
}

const exec = promisify(execFile);

/**
 * A voice memo as a phone makes one (AAC in .m4a, 44.1 kHz) of the given recordings one after
 * another, `gap` seconds of silence between them; returns its duration and where each starts.
 */
export async function makeSpeechMemo(out: string, wavs: readonly string[], gap = 1.5): Promise<{ seconds: number; starts: number[] }> {
  // Recording, silence, recording, ...: this old ffmpeg's apad has no duration option, so the gaps are inputs of their own.
  const silence = ['-f', 'lavfi', '-t', String(gap), '-i', 'anullsrc=r=16000:cl=mono'];
  const inputs = wavs.flatMap((wav, i) => (i < wavs.length - 1 ? ['-i', wav, ...silence] : ['-i', wav]));
  const n = 2 * wavs.length - 1;
  const parts = Array.from({ length: n }, (_, i) => `[${i}:a]aresample=44100,aformat=channel_layouts=mono[a${i}]`);
  const filter = `${parts.join(';')};${parts.map((_, i) => `[a${i}]`).join('')}concat=n=${n}:v=0:a=1[out]`;
  await exec(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', ...inputs, '-filter_complex', filter, '-map', '[out]', '-c:a', 'aac', '-b:a', '96k', out]);
  const starts: number[] = [];
  let at = 0;
  for (const [i, wav] of wavs.entries()) {
    starts.push(at);
    at += (await wavSeconds(wav)) + (i < wavs.length - 1 ? gap : 0);
  }
  return { seconds: at, starts };
}

/** Duration of a PCM WAV from its header. */
export async function wavSeconds(wav: string): Promise<number> {
  const b = await readFile(wav);
  const channels = b.readUInt16LE(22);
  const rate = b.readUInt32LE(24);
  const bits = b.readUInt16LE(34);
  let pos = 12;
  while (pos + 8 <= b.length) {
    const id = b.toString('latin1', pos, pos + 4);
    const size = b.readUInt32LE(pos + 4);
    if (id === 'data') return Math.min(size, b.length - pos - 8) / (channels * rate * (bits / 8));
    pos += 8 + size + (size & 1);
  }
  throw new Error(`${wav}: no data chunk`);
}
