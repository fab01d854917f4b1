import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError, AiUnavailableError, type Transcript } from '../../../src/ai/ai.port.js';
import { findPocketsphinx, parsePocketsphinxOutput, transcribeWithPocketsphinx } from '../../../src/ai/local/pocketsphinx.js';
import { kernelCapsAvailable } from '../../../src/media/sandbox/process-caps.js';
import { makeGarbage, mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';
import { librivoxRecordings, makeSpeechMemo, pocketsphinxInstalled, type Recording, wavSeconds, wordEdits, wordErrorRate, words } from '../../support/speech-testdata.js';

/**
 * pocketsphinx, the rough offline recogniser, on real speech with its known text (Debian's
 * pocketsphinx-testdata): how many words it gets wrong, and that what it gives is timed, marked
 * rough and carries a confidence. The parser is also tested on its own, with output as the
 * program prints it. Measured here (pocketsphinx 0.8+5prealpha, Debian's en-us model): 26 word
 * errors in the 71 words of the five recordings (WER 0.366, each recording 0.21 to 0.75), and
 * 0.310 on the five read one after another as one voice memo. pocketsphinx is deterministic, so
 * the bounds below have room only for another build of the same package.
 */

const MODEL = { name: 'pocketsphinx-en-us', language: 'en' };

/** What `pocketsphinx_continuous -time yes` prints: per utterance the hypothesis, then its words. */
const OUTPUT = [
  'and mr john guess what',
  '<s> 0.000 0.140 0.999400',
  'and(2) 0.150 0.360 0.260057',
  'mr 0.370 0.620 0.988762',
  '[NOISE] 0.630 0.700 0.500000',
  'john 0.710 1.000 0.929128',
  '<sil> 1.010 1.100 0.553348',
  'guess 1.110 1.330 0.671967',
  'what 1.340 1.580 0.581373',
  '</s> 1.590 1.700 1.000000',
  'he was',
  '<s> 3.000 3.100 0.999000',
  'he 3.110 3.300 0.900000',
  'was 3.310 3.600 0.100000',
  '</s> 3.610 3.700 1.000000',
  '',
].join('\n');

describe('parsePocketsphinxOutput', () => {
  it('makes one timed segment per utterance from the word lines, without fillers or pronunciation numbers, rough, with the mean word confidence', () => {
    expect(parsePocketsphinxOutput(OUTPUT, MODEL)).toEqual<Transcript>({
      provider: 'local',
      model: 'pocketsphinx-en-us',
      language: 'en',
      segments: [
        { start: 0.15, end: 1.58, text: 'and mr john guess what' },
        { start: 3.11, end: 3.6, text: 'he was' },
      ],
      text: 'and mr john guess what he was',
      rough: true,
      // (0.260057 + 0.988762 + 0.929128 + 0.671967 + 0.581373 + 0.9 + 0.1) / 7
      confidence: 0.633,
    });
  });

  it('cuts a long utterance at a pause once it passes 15 s, and anywhere once it passes 30 s', () => {
    const lines = ['<s> 0.000 0.100 1.0'];
    // Ten words a second for 50 s, one pause at 16 s.
    for (let i = 1; i < 500; i++) {
      const start = i / 10;
      lines.push(start === 16 ? `<sil> 16.000 16.090 1.0` : `w${i} ${start.toFixed(3)} ${(start + 0.09).toFixed(3)} 0.5`);
    }
    lines.push('</s> 50.000 50.100 1.0');
    const { segments } = parsePocketsphinxOutput(lines.join('\n'), MODEL);
    expect(segments.map((s) => [s.start, s.end])).toEqual([
      [0.1, 15.99],
      [16.1, 46.09],
      [46.1, 49.99],
    ]);
    expect(segments.flatMap((s) => s.text.split(' '))).toHaveLength(498);
  });

  it('gives an empty transcript, confidence unknown, when nothing but silence and noise was heard', () => {
    const transcript = parsePocketsphinxOutput('\n<s> 0.000 0.500 1.0\n<sil> 0.500 1.000 0.9\n[NOISE] 1.0 1.2 0.4\n</s> 1.200 1.300 1.0\n', MODEL);
    expect(transcript).toMatchObject({ text: '', segments: [], rough: true, confidence: null });
  });
});

describe('findPocketsphinx', () => {
  let dir: MediaDir;
  beforeAll(async () => {
    dir = await mediaDir();
  });
  afterAll(() => dir.remove());

  it('says which configured path is missing: a setup error, not a quiet fallback', async () => {
    const missing = dir.path('no-such-pocketsphinx');
    await expect(findPocketsphinx({ binary: missing, modelDir: null })).rejects.toThrow(new AiUnavailableError(`pocketsphinx was not found or cannot be run at ${missing}`));
    const script = dir.path('pocketsphinx_continuous');
    await writeFile(script, '#!/bin/sh\nexit 0\n');
    await chmod(script, 0o755);
    const empty = dir.path('empty-model');
    await mkdir(empty);
    await expect(findPocketsphinx({ binary: script, modelDir: empty })).rejects.toThrow(AiUnavailableError);
    await expect(findPocketsphinx({ binary: script, modelDir: empty })).rejects.toThrow(`in ${empty}`);
  });

  it.runIf(pocketsphinxInstalled)("finds Debian's program and model when nothing is configured", async () => {
    const found = await findPocketsphinx({ binary: null, modelDir: null });
    expect(found).toEqual({
      binary: expect.stringMatching(/\/pocketsphinx_continuous$/),
      model: {
        hmm: '/usr/share/pocketsphinx/model/en-us/en-us',
        lm: '/usr/share/pocketsphinx/model/en-us/en-us.lm.bin',
        dict: '/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict',
        name: 'pocketsphinx-en-us',
        language: 'en',
      },
    });
  });
});

describe.runIf(pocketsphinxInstalled)('transcribeWithPocketsphinx on the LibriVox recordings of pocketsphinx-testdata', () => {
  const settings = { binary: null, modelDir: null };
  let dir: MediaDir;
  let recordings: Recording[];
  beforeAll(async () => {
    dir = await mediaDir();
    recordings = await librivoxRecordings();
  });
  afterAll(() => dir.remove());

  /** Segments in order, each within the recording, none overlapping the next. */
  function expectTimed(transcript: Transcript, seconds: number): void {
    expect(transcript.segments.length).toBeGreaterThan(0);
    let last = 0;
    for (const segment of transcript.segments) {
      expect(segment.start).toBeGreaterThanOrEqual(last);
      expect(segment.end).toBeGreaterThan(segment.start);
      expect(segment.end).toBeLessThanOrEqual(seconds + 0.05);
      expect(segment.text).toMatch(/\S/);
      last = segment.end;
    }
  }

  it('hears each recording with a word error rate within the measured bound, timed, rough, with a confidence in [0, 1]', { timeout: 120_000 }, async () => {
    expect(recordings).toHaveLength(5);
    let edits = 0;
    let total = 0;
    for (const recording of recordings) {
      const transcript = await transcribeWithPocketsphinx(settings, recording.wav);
      expect(transcript).toMatchObject({ provider: 'local', model: 'pocketsphinx-en-us', language: 'en', rough: true });
      expect(transcript.confidence).toBeGreaterThanOrEqual(0);
      expect(transcript.confidence).toBeLessThanOrEqual(1);
      expectTimed(transcript, await wavSeconds(recording.wav));
      expect(transcript.text).toBe(transcript.segments.map((s) => s.text).join(' '));
      // Measured 0.21 to 0.75 per recording (the shortest, 9 words, is the worst).
      expect(wordErrorRate(recording.text, transcript.text)).toBeLessThanOrEqual(0.8);
      const reference = words(recording.text);
      edits += wordEdits(reference, words(transcript.text));
      total += reference.length;
    }
    // Measured 26 of 71: 0.366.
    expect(total).toBe(71);
    expect(edits / total).toBeLessThanOrEqual(0.45);
  });

  it('hears a phone voice memo (AAC) of all five, one segment per sentence, in order, each where its sentence is', { timeout: 120_000 }, async () => {
    const memo = dir.path('memo.m4a');
    const { seconds, starts } = await makeSpeechMemo(memo, recordings.map((r) => r.wav));
    const transcript = await transcribeWithPocketsphinx(settings, memo);
    expect(transcript).toMatchObject({ rough: true, model: 'pocketsphinx-en-us' });
    expectTimed(transcript, seconds);
    // The pauses between sentences part the utterances: each segment starts within its sentence.
    expect(transcript.segments).toHaveLength(5);
    transcript.segments.forEach((segment, i) => {
      expect(segment.start).toBeGreaterThanOrEqual(starts[i]!);
      expect(segment.start).toBeLessThan(starts[i]! + 1);
    });
    // Measured 0.310.
    expect(wordErrorRate(recordings.map((r) => r.text).join(' '), transcript.text)).toBeLessThanOrEqual(0.4);
  });

  it('fails for good, without running pocketsphinx, on a recording ffmpeg cannot decode', async () => {
    const err = await transcribeWithPocketsphinx(settings, await makeGarbage(dir.path('garbage.m4a'))).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AiProviderError', retryable: false, message: 'The recording could not be converted for transcription: it may be damaged' });
  });

  it.runIf(kernelCapsAvailable())('fails for good when it needs more memory than its cap (it needs about 110 MB)', async () => {
    const err = await transcribeWithPocketsphinx({ ...settings, memoryMb: 64 }, recordings[1]!.wav).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AiProviderError);
    expect(err).toMatchObject({ retryable: false, message: 'Transcription needs more than the 64 MB of memory one recording may use, or pocketsphinx stops on it' });
  });

  it('stops at its time limit and fails for good', async () => {
    // Loading its model alone takes longer than this.
    const err = await transcribeWithPocketsphinx({ ...settings, timeoutMs: 50 }, recordings[0]!.wav).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'AiProviderError', retryable: false, message: expect.stringContaining('Transcription took longer than') });
  });

  it('is killed when its job stops', async () => {
    // The real program behind a wrapper that notes its pid and execs it (same process).
    const found = (await findPocketsphinx(settings))!;
    const wrapper = dir.path('pocketsphinx-wrapper');
    await writeFile(wrapper, `#!/bin/sh\necho $$ > '${dir.path('pid')}'\nexec '${found.binary}' "$@"\n`);
    await chmod(wrapper, 0o755);
    const controller = new AbortController();
    const pending = transcribeWithPocketsphinx({ ...settings, binary: wrapper }, recordings[0]!.wav, controller.signal);
    pending.catch(() => undefined);
    try {
      let pid = 0;
      while (!pid) {
        pid = Number((await readFile(dir.path('pid'), 'utf8').catch(() => '')).trim());
        if (!pid) await sleep(20);
      }
      controller.abort(new Error('worker shutting down'));
      await expect(pending).rejects.toThrow('worker shutting down');
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    } finally {
      controller.abort(new Error('test over'));
    }
  });
});
