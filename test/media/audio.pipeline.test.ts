import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processAudio, toBuckets, WAVEFORM_BUCKETS } from '../../src/media/audio.pipeline.js';
import { ffprobe } from '../../src/media/ffmpeg.js';
import { MediaError, type PipelineInput } from '../../src/media/pipeline.types.js';
import { wav } from '../support/media.js';
import { makeGarbage, makeSilentVideo, makeVoiceMemo, mediaDir, testContext, type MediaDir } from '../support/media-ffmpeg.js';

const RECORDED = '2020-03-04T05:06:07Z';
let media: MediaDir;
let memo: string;

const input = (path: string, mimeType = 'audio/mp4'): PipelineInput => ({ path, mimeType, filename: 'memo.m4a' });

beforeAll(async () => {
  media = await mediaDir();
  memo = await makeVoiceMemo(media.path('memo.m4a'), { seconds: 2.5, creationTime: RECORDED });
});
afterAll(() => media.remove());

describe('processAudio', () => {
  it('reads duration, date and technical facts of a voice memo', async () => {
    const result = await processAudio(input(memo), testContext());
    expect(result.durationSeconds).toBeGreaterThan(2.3);
    expect(result.durationSeconds).toBeLessThan(2.7);
    expect(result.dateTaken?.toISOString()).toBe(new Date(RECORDED).toISOString());
    expect(result.hasAudio).toBe(true);
    expect(result.thumbnails).toEqual([]);
    expect(result.metadata).toMatchObject({ codec: 'aac', sampleRate: 44100, channels: 1 });
    expect(result.metadata?.bitRate).toBeGreaterThan(16_000);
  });

  it('makes a re-encoded copy for people outside the family, without the tags of the original', async () => {
    const ctx = testContext();
    const result = await processAudio(input(memo), ctx);
    expect(result.preview).toMatchObject({ name: 'audio', mimeType: 'audio/mp4', storageKey: 'test/audio' });
    const copy = media.path('copy.m4a');
    await writeFile(copy, ctx.stored.get('audio')!.body);
    expect(result.preview!.size).toBe(ctx.stored.get('audio')!.body.length);
    const probe = await ffprobe(copy);
    expect(probe.streams.map((s) => s.codec_type)).toEqual(['audio']);
    expect(probe.format.tags?.creation_time, 'the date of the original is not copied').toBeUndefined();
    expect(Number(probe.format.duration)).toBeCloseTo(2.5, 0);
  });

  it('draws a waveform that is flat in the silence and loud in the tone', async () => {
    const { waveform } = await processAudio(input(memo), testContext());
    expect(waveform).toHaveLength(WAVEFORM_BUCKETS);
    expect(waveform!.every((v) => v >= 0 && v <= 1)).toBe(true);
    expect(Math.max(...waveform!)).toBe(1);
    // The first second of 2.5 is silent: buckets 0–79; leave a margin for the encoder's smear.
    expect(Math.max(...waveform!.slice(0, 78))).toBeLessThan(0.05);
    // The tone swells between 0.2 and 1.0 of its peak but is never near silence.
    expect(Math.min(...waveform!.slice(82))).toBeGreaterThan(0.1);
    expect(waveform!.every((v) => Math.round(v * 1000) === v * 1000)).toBe(true);
  });

  it('reports probe, waveform, then the shareable copy, ending at 100', async () => {
    const ctx = testContext();
    await processAudio(input(memo), ctx);
    expect(ctx.stages.map((s) => s.stage)).toEqual(['probe', 'waveform', 'rendition', 'rendition']);
    expect(ctx.stages.map((s) => s.percent)).toEqual([0, 20, 60, 100]);
  });

  it('reads a PCM WAV without a date', async () => {
    const path = media.path('noise.wav');
    await writeFile(path, wav(32_000)); // 2 s at 16 kHz
    const result = await processAudio(input(path, 'audio/wav'), testContext());
    expect(result.durationSeconds).toBeCloseTo(2, 2);
    expect(result.dateTaken).toBeNull();
    expect(result.metadata).toMatchObject({ codec: 'pcm_s16le', sampleRate: 16000, channels: 1, bitRate: 256_000 });
    expect(result.waveform!.every((v) => v > 0.5)).toBe(true);
  });

  it('keeps a silent recording silent instead of scaling hiss up', async () => {
    const path = media.path('silence.wav');
    await writeFile(path, wav(16_000, (i) => (i % 2 ? 3 : -3)));
    const { waveform } = await processAudio(input(path, 'audio/wav'), testContext());
    expect(waveform).toHaveLength(WAVEFORM_BUCKETS);
    expect(Math.max(...waveform!)).toBeLessThan(0.01);
  });

  it('refuses a damaged file and a file with no sound with a MediaError', async () => {
    const garbage = await makeGarbage(media.path('garbage.m4a'));
    const mute = await makeSilentVideo(media.path('mute.mp4'), 1);
    await expect(processAudio(input(garbage), testContext())).rejects.toBeInstanceOf(MediaError);
    await expect(processAudio(input(mute, 'video/mp4'), testContext())).rejects.toThrow(/has no sound/);
  });
});

describe('toBuckets', () => {
  it('spreads a recording shorter than the bucket count instead of leaving gaps', () => {
    const buckets = toBuckets([16384, 32767], 4);
    expect(buckets).toEqual([0.5, 0.5, 1, 1]);
  });

  it('takes the peak of each bucket and gives zeros for nothing decoded', () => {
    expect(toBuckets([100, 32767, 0, 16384], 2)).toEqual([1, 0.5]);
    expect(toBuckets([], 3)).toEqual([0, 0, 0]);
  });
});
