import { access, chmod, readFile, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError, AiUnavailableError } from '../../../src/ai/ai.port.js';
import { transcribeWithWhisperCpp, type WhisperSettings } from '../../../src/ai/local/whisper.js';
import { kernelCapsAvailable } from '../../../src/media/sandbox/process-caps.js';
import { makeGarbage, makeVoiceMemo, mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';

/**
 * STAND-IN for whisper.cpp's `whisper-cli`. The real tool and a ggml model (≥ 75 MB) cannot be
 * installed or downloaded here, so this small Node script takes its place. It checks its
 * arguments the way the real CLI reads them, checks that the input really is 16 kHz mono 16-bit
 * WAV, records what it saw in calls.jsonl, and writes `<-of>.json` in whisper.cpp's format.
 * What it does is chosen by the "model" file's contents:
 *   ok      a transcript (with a [BLANK_AUDIO] marker to be dropped) ending where the audio ends
 *   fail    a few stderr lines, then exit 3, as whisper.cpp does with a corrupt model
 *   garbled a JSON file that is not JSON
 *   hang    writes started.json (its pid) and does not finish (it gives up after a minute)
 *   hog     allocates memory and touches it until it cannot, as a decoder on a hostile file does
 */
const STAND_IN = String.raw`
const fs = require('node:fs');
const path = require('node:path');
const argv = process.argv.slice(2);
const flag = (name) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : undefined; };
const dir = path.dirname(process.argv[1]);
const fail = (msg, code = 2) => { process.stderr.write(msg + '\n'); process.exit(code); };

const model = flag('-m'), wav = flag('-f'), out = flag('-of'), lang = flag('-l'), threads = flag('-t');
if (!model || !wav || !out || !argv.includes('-oj') || lang !== 'auto' || !/^[1-9][0-9]*$/.test(threads ?? '')) fail('error: unexpected arguments: ' + argv.join(' '));

const b = fs.readFileSync(wav);
const header = { riff: b.toString('latin1', 0, 4), wave: b.toString('latin1', 8, 12), format: b.readUInt16LE(20), channels: b.readUInt16LE(22), sampleRate: b.readUInt32LE(24), bits: b.readUInt16LE(34) };
let pos = 12, dataBytes = 0;
while (pos + 8 <= b.length) { const id = b.toString('latin1', pos, pos + 4), size = b.readUInt32LE(pos + 4); if (id === 'data') { dataBytes = Math.min(size, b.length - pos - 8); break; } pos += 8 + size + (size & 1); }
fs.appendFileSync(path.join(dir, 'calls.jsonl'), JSON.stringify({ argv, wav, header, dataBytes }) + '\n');
if (header.riff !== 'RIFF' || header.wave !== 'WAVE' || header.format !== 1 || header.channels !== 1 || header.sampleRate !== 16000 || header.bits !== 16) fail('error: input is not 16 kHz mono 16-bit WAV');

const mode = fs.readFileSync(model, 'utf8').trim();
if (mode === 'fail') {
  process.stderr.write('whisper_init_from_file_with_params_no_state: loading model from ' + model + '\n');
  fail('error: failed to initialize whisper context', 3);
}
if (mode === 'garbled') { fs.writeFileSync(out + '.json', '{"transcription": [ {"text": "half'); process.exit(0); }
if (mode === 'hog') { const kept = []; for (;;) kept.push(Buffer.alloc(16 * 1024 * 1024, 1)); }
if (mode === 'hang') {
  fs.writeFileSync(path.join(dir, 'started.json'), JSON.stringify({ pid: process.pid }));
  setTimeout(() => process.exit(9), 60000); // never outlive a test run that went wrong
  return;
}

const endMs = Math.round((dataBytes / 2 / 16000) * 1000);
const seg = (from, to, text) => ({ timestamps: {}, offsets: { from, to }, text });
fs.writeFileSync(out + '.json', JSON.stringify({
  systeminfo: 'stand-in', model: { type: 'base' }, params: { model, language: 'auto' },
  result: { language: 'en' },
  transcription: [
    seg(0, 1000, ' [BLANK_AUDIO]'),
    seg(1000, 1800, ' Grandma planted the apple tree'),
    seg(1800, endMs, '   the year we moved in.  '),
  ],
}));
`;

interface Call {
  argv: string[];
  wav: string;
  header: { sampleRate: number; channels: number; bits: number; format: number };
  dataBytes: number;
}

describe('transcribeWithWhisperCpp', () => {
  let dir: MediaDir;
  let binary: string;
  let memo: string;
  const model = async (mode: string): Promise<string> => {
    const path = dir.path(`ggml-${mode}.bin`);
    await writeFile(path, mode);
    return path;
  };
  const calls = async (): Promise<Call[]> => {
    const raw = await readFile(dir.path('calls.jsonl'), 'utf8').catch(() => '');
    return raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Call);
  };

  beforeAll(async () => {
    dir = await mediaDir();
    const script = dir.path('whisper-cli-stand-in.cjs');
    await writeFile(script, STAND_IN);
    binary = dir.path('whisper-cli-stand-in');
    await writeFile(binary, `#!/bin/sh\nexec '${process.execPath}' '${script}' "$@"\n`);
    await chmod(binary, 0o755);
    memo = await makeVoiceMemo(dir.path('memo.m4a'), { seconds: 2.5 });
  });
  afterAll(() => dir.remove());

  describe('without whisper.cpp', () => {
    it.each<[string, WhisperSettings]>([
      ['nothing is configured', { binary: null, model: null }],
      ['only the binary is configured', { binary: '/usr/local/bin/whisper-cli', model: null }],
      ['only the model is configured', { binary: null, model: '/models/ggml-base.bin' }],
    ])('is unavailable when %s', async (_, settings) => {
      const err = await transcribeWithWhisperCpp(settings, memo).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AiUnavailableError);
      expect((err as Error).message).toBe(
        'No transcription backend is configured (set WHISPER_CPP_PATH and WHISPER_MODEL_PATH, or an OpenAI-compatible server)',
      );
    });

    it('is unavailable, naming the path, when the configured binary or model does not exist', async () => {
      // This machine really has no whisper.cpp.
      const missing = dir.path('no-such-whisper-cli');
      await expect(transcribeWithWhisperCpp({ binary: missing, model: await model('ok') }, memo)).rejects.toThrow(
        new AiUnavailableError(`whisper.cpp was not found or cannot be run at ${missing}`),
      );
      const noModel = dir.path('ggml-missing.bin');
      await expect(transcribeWithWhisperCpp({ binary, model: noModel }, memo)).rejects.toThrow(
        new AiUnavailableError(`The whisper model file was not found at ${noModel}`),
      );
    });
  });

  describe('with the whisper-cli stand-in', () => {
    it('converts the recording to 16 kHz mono WAV, runs the CLI and reads its JSON', async () => {
      const before = (await calls()).length;
      const transcript = await transcribeWithWhisperCpp({ binary, model: await model('ok'), threads: 3 }, memo);
      const call = (await calls()).slice(before);
      expect(call).toHaveLength(1);
      const { argv, header, dataBytes, wav } = call[0]!;
      expect(argv).toEqual(['-m', dir.path('ggml-ok.bin'), '-f', wav, '-oj', '-of', expect.any(String), '-l', 'auto', '-t', '3']);
      expect(header).toMatchObject({ format: 1, channels: 1, sampleRate: 16000, bits: 16 });
      expect(dataBytes / 32000).toBeCloseTo(2.5, 1);

      expect(transcript).toEqual({
        provider: 'local',
        model: 'ggml-ok.bin',
        language: 'en',
        // [BLANK_AUDIO] is not speech; offsets are milliseconds; the last segment ends with the audio.
        segments: [
          { start: 1, end: 1.8, text: 'Grandma planted the apple tree' },
          { start: 1.8, end: expect.closeTo(2.5, 1), text: 'the year we moved in.' },
        ],
        text: 'Grandma planted the apple tree the year we moved in.',
      });
      // The WAV lived in a temporary folder that is gone afterwards.
      await expect(access(wav)).rejects.toThrow();
    });

    it('uses up to four threads by default', async () => {
      const before = (await calls()).length;
      await transcribeWithWhisperCpp({ binary, model: await model('ok') }, memo);
      const [call] = (await calls()).slice(before);
      const threads = Number(call!.argv[call!.argv.indexOf('-t') + 1]);
      expect(threads).toBeGreaterThanOrEqual(1);
      expect(threads).toBeLessThanOrEqual(4);
    });

    it('fails for good with the last line whisper.cpp wrote when it exits badly', async () => {
      const err = await transcribeWithWhisperCpp({ binary, model: await model('fail') }, memo).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AiProviderError);
      expect(err).toMatchObject({ message: 'whisper.cpp failed: error: failed to initialize whisper context', retryable: false });
    });

    it('fails for good when the JSON cannot be read', async () => {
      const err = await transcribeWithWhisperCpp({ binary, model: await model('garbled') }, memo).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AiProviderError', retryable: false, message: 'whisper.cpp wrote a transcript that could not be read' });
    });

    it('fails for good, without running whisper, on a recording ffmpeg cannot decode', async () => {
      const before = (await calls()).length;
      const garbage = await makeGarbage(dir.path('garbage.m4a'));
      const err = await transcribeWithWhisperCpp({ binary, model: await model('ok') }, garbage).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AiProviderError', retryable: false });
      expect(await calls()).toHaveLength(before);
    });

    it('kills whisper.cpp when aborted', async () => {
      const controller = new AbortController();
      const pending = transcribeWithWhisperCpp({ binary, model: await model('hang') }, memo, controller.signal);
      pending.catch(() => undefined);
      try {
        // Wait until the stand-in is running; its file may be caught empty or half-written.
        let started: { pid: number } | null = null;
        while (!started) {
          try {
            started = JSON.parse(await readFile(dir.path('started.json'), 'utf8')) as { pid: number };
          } catch {
            await sleep(20);
          }
        }
        controller.abort(new Error('worker shutting down'));
        await expect(pending).rejects.toThrow('worker shutting down');
        expect(() => process.kill(started.pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
      } finally {
        controller.abort(new Error('test over')); // whatever happened, the stand-in goes
      }
    });

    it.runIf(kernelCapsAvailable())('fails for good, and this process goes on, when whisper.cpp runs out of its memory cap', async () => {
      const rss = process.memoryUsage().rss;
      const err = await transcribeWithWhisperCpp({ binary, model: await model('hog'), memoryMb: 1024 }, memo).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AiProviderError', retryable: false, message: expect.stringContaining('needs more than the 1024 MB of memory one recording may use') });
      expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
    });

    it('stops whisper.cpp at its time limit and fails for good', async () => {
      const err = await transcribeWithWhisperCpp({ binary, model: await model('hang'), timeoutMs: 1500 }, memo).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'AiProviderError', retryable: false, message: expect.stringContaining('Transcription took longer than') });
      const { pid } = JSON.parse(await readFile(dir.path('started.json'), 'utf8')) as { pid: number };
      expect(() => process.kill(pid, 0)).toThrow(expect.objectContaining({ code: 'ESRCH' }));
    });

    it('does not start when already aborted', async () => {
      const before = (await calls()).length;
      await expect(transcribeWithWhisperCpp({ binary, model: await model('ok') }, memo, AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop');
      expect(await calls()).toHaveLength(before);
    });
  });
});
