import { access, readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AiProviderError, AiUnavailableError } from '../../../src/ai/ai.port.js';
import { transcribeWithWhisperCpp, type WhisperSettings } from '../../../src/ai/local/whisper.js';
import { kernelCapsAvailable } from '../../../src/media/sandbox/process-caps.js';
import { makeGarbage, makeVoiceMemo, mediaDir, type MediaDir } from '../../support/media-ffmpeg.js';
import { installWhisperStandIn, type WhisperStandIn } from '../../support/whisper-stand-in.js';

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
  let standIn: WhisperStandIn;
  const model = (mode: Parameters<WhisperStandIn['model']>[0]): Promise<string> => standIn.model(mode);
  const calls = async (): Promise<Call[]> => {
    const raw = await readFile(dir.path('calls.jsonl'), 'utf8').catch(() => '');
    return raw.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Call);
  };

  beforeAll(async () => {
    dir = await mediaDir();
    standIn = await installWhisperStandIn(dir);
    binary = standIn.binary;
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
        // whisper's words are its best hearing, not a rough guess; it reports no overall confidence.
        rough: false,
        confidence: null,
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
