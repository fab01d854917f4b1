import sharp from 'sharp';
import { thumbHashToApproximateAspectRatio } from 'thumbhash';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFile } from 'node:fs/promises';
import { DEFAULT_MEDIA_TOOL_LIMITS, FfmpegError, ffprobe, mediaToolFailure, parseIso6709, probeLocation, runFfmpeg, setMediaToolLimits } from '../../src/media/ffmpeg.js';
import { kernelCapsAvailable } from '../../src/media/sandbox/process-caps.js';
import { MediaError, type PipelineInput } from '../../src/media/pipeline.types.js';
import { processVideo } from '../../src/media/video.pipeline.js';
import {
  makeGarbage,
  makeRotatedCopy,
  makeSilentVideo,
  makeTruncatedCopy,
  makeVideo,
  mediaDir,
  testContext,
  type MediaDir,
} from '../support/media-ffmpeg.js';

const TAKEN = '2019-06-01T12:00:00Z';
let media: MediaDir;
let clip: string;
let rotated: string;
let silent: string;

const input = (path: string, filename = 'clip.mp4'): PipelineInput => ({ path, mimeType: 'video/mp4', filename });

beforeAll(async () => {
  media = await mediaDir();
  clip = await makeVideo(media.path('clip.mp4'), { seconds: 3, creationTime: TAKEN, location: '+48.8584+002.2945/' });
  rotated = await makeRotatedCopy(clip, media.path('portrait.mp4'));
  silent = await makeSilentVideo(media.path('silent.mp4'));
});
afterAll(() => media.remove());

describe('processVideo', () => {
  it('reads duration, size, codecs, date and place from the container', async () => {
    const result = await processVideo(input(clip), testContext());
    expect(result.durationSeconds).toBeGreaterThan(2.8);
    expect(result.durationSeconds).toBeLessThan(3.2);
    expect([result.width, result.height]).toEqual([320, 240]);
    expect(result.dateTaken?.toISOString()).toBe(new Date(TAKEN).toISOString());
    expect(result.location?.latitude).toBeCloseTo(48.8584, 3);
    expect(result.location?.longitude).toBeCloseTo(2.2945, 3);
    expect(result.hasAudio).toBe(true);
    expect(result.metadata).toMatchObject({ videoCodec: 'h264', audioCodec: 'aac', rotation: 0 });
  });

  it('makes WebP posters without metadata, never enlarged, from a real frame', async () => {
    const ctx = testContext();
    const result = await processVideo(input(clip), ctx);
    expect(result.thumbnails).toEqual([
      { name: 'poster-256', width: 256, height: 192, mimeType: 'image/webp', storageKey: 'test/poster-256' },
      { name: 'poster-1024', width: 320, height: 240, mimeType: 'image/webp', storageKey: 'test/poster-1024' },
    ]);
    for (const thumb of result.thumbnails) {
      const stored = ctx.stored.get(thumb.name)!;
      expect(stored.mimeType).toBe('image/webp');
      const meta = await sharp(stored.body).metadata();
      expect(meta.format).toBe('webp');
      expect([meta.width, meta.height]).toEqual([thumb.width, thumb.height]);
      expect(meta.exif).toBeUndefined();
      expect(meta.xmp).toBeUndefined();
      expect(meta.icc).toBeUndefined();
    }
    // testsrc is a bright colour pattern: a black or empty poster would mean a failed decode.
    const stats = await sharp(ctx.stored.get('poster-256')!.body).stats();
    expect(stats.channels.slice(0, 3).every((c) => c.mean > 40 && c.stdev > 20)).toBe(true);
  });

  it('gives a ThumbHash placeholder with the frame shape', async () => {
    const result = await processVideo(input(clip), testContext());
    const hash = Buffer.from(result.placeholder!, 'base64');
    expect(hash.length).toBeGreaterThan(5);
    // The hash stores the ratio coarsely; landscape 4:3 must still read as clearly landscape.
    const ratio = thumbHashToApproximateAspectRatio(hash);
    expect(ratio).toBeGreaterThan(1.25);
    expect(ratio).toBeLessThan(1.45);
  });

  it('makes a transcoded H.264 preview without the place, date or tags of the original, upright', async () => {
    for (const [source, size] of [[clip, [320, 240]], [rotated, [240, 320]]] as const) {
      const ctx = testContext();
      const result = await processVideo(input(source), ctx);
      expect(result.preview).toMatchObject({ name: 'video', mimeType: 'video/mp4' });
      const copy = media.path('preview.mp4');
      await writeFile(copy, ctx.stored.get('video')!.body);
      const probe = await ffprobe(copy);
      const picture = probe.streams.find((s) => s.codec_type === 'video')!;
      expect([picture.codec_name, picture.width, picture.height]).toEqual(['h264', ...size]);
      expect(probe.streams.map((s) => s.codec_type).sort()).toEqual(['audio', 'video']);
      expect(probeLocation(probe), 'no place in the preview').toBeNull();
      expect(probe.format.tags?.creation_time).toBeUndefined();
      expect(picture.side_data_list ?? [], 'no rotation left to apply').toEqual([]);
    }
  });

  it('reports its stages in order with percents that never go down', async () => {
    const ctx = testContext();
    await processVideo(input(clip), ctx);
    expect([...new Set(ctx.stages.map((s) => s.stage))]).toEqual(['probe', 'poster', 'thumbnails', 'rendition']);
    const percents = ctx.stages.map((s) => s.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(percents.at(-1)).toBe(100);
  });

  it('swaps width and height for a video recorded turned 90°, and the poster is upright', async () => {
    const ctx = testContext();
    const result = await processVideo(input(rotated), ctx);
    expect([result.width, result.height]).toEqual([240, 320]);
    expect([90, 270]).toContain(result.metadata?.rotation);
    expect(result.thumbnails[0]).toMatchObject({ name: 'poster-256', width: 192, height: 256 });
    const meta = await sharp(ctx.stored.get('poster-256')!.body).metadata();
    expect([meta.width, meta.height]).toEqual([192, 256]);
  });

  it('knows a video without a sound track, date or place', async () => {
    const result = await processVideo(input(silent), testContext());
    expect(result.hasAudio).toBe(false);
    expect(result.metadata?.audioCodec).toBeNull();
    expect(result.dateTaken).toBeNull();
    expect(result.location).toBeNull();
    expect(result.durationSeconds).toBeCloseTo(2, 1);
  });

  it('refuses random bytes and a cut-off upload with a MediaError', async () => {
    const garbage = await makeGarbage(media.path('garbage.mp4'));
    const truncated = await makeTruncatedCopy(clip, media.path('truncated.mp4'));
    await expect(processVideo(input(garbage), testContext())).rejects.toBeInstanceOf(MediaError);
    await expect(processVideo(input(truncated), testContext())).rejects.toThrow(/damaged or incomplete/);
  });

  it('stops at once when the worker is shutting down', async () => {
    const controller = new AbortController();
    controller.abort(new Error('shutting down'));
    const run = processVideo(input(clip), testContext(controller.signal));
    await expect(run).rejects.toThrow('shutting down');
    await expect(run).rejects.not.toBeInstanceOf(MediaError);
  });
});

describe('runFfmpeg', () => {
  // An endless source: only the signal or the timeout can end it.
  const endless = ['-v', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=64x64:rate=10', '-f', 'null', '-'];

  it('kills ffmpeg when the signal aborts', async () => {
    const controller = new AbortController();
    const stopping = new Error('worker stopping');
    // Its own timeout is far beyond the test's: only the abort can end the run in time.
    const run = runFfmpeg(endless, { signal: controller.signal, timeoutMs: 3_600_000 });
    setTimeout(() => controller.abort(stopping), 300);
    // runFfmpeg settles only when the child has exited ('close'); the abort reason itself, not an
    // FfmpegError or the timeout's error, says the abort is what killed it.
    await expect(run).rejects.toBe(stopping);
  });

  it('kills ffmpeg after its timeout', async () => {
    await expect(runFfmpeg(endless, { timeoutMs: 300 })).rejects.toThrow(/took longer than 300 ms/);
  });

  it('runs under its memory cap: a decode that needs more ends with a reason for people, not a retry', async () => {
    expect(kernelCapsAvailable()).toBe(true);
    setMediaToolLimits({ memoryMb: 64 });
    try {
      const encode = ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=1920x1080:rate=10', '-t', '1', '-c:v', 'libx264', '-f', 'null', '-'];
      const err = await runFfmpeg(encode).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FfmpegError);
      // Under RLIMIT_AS ffmpeg either reports the failed allocation or dies of it (SIGSEGV).
      expect(['memory', 'crash']).toContain((err as FfmpegError).end);
      const failure = mediaToolFailure(err, '"film.mp4" could not be played', 'the video may be damaged');
      expect(failure).toBeInstanceOf(MediaError);
      expect((failure as Error).message).toBe('"film.mp4" could not be played: decoding it needs more than the 64 MB of memory one file may use, or the decoder stops on it');
    } finally {
      setMediaToolLimits(DEFAULT_MEDIA_TOOL_LIMITS);
    }
    // The default cap leaves a real encode alone.
    await expect(runFfmpeg(['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=size=1280x720:rate=10', '-t', '1', '-c:v', 'libx264', '-f', 'null', '-'])).resolves.toBeDefined();
  });

  it('turns its time limit into a reason for people, and leaves an abort alone', async () => {
    const late = await runFfmpeg(endless, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect((late as FfmpegError).end).toBe('time');
    expect((mediaToolFailure(late, '"film.mp4" could not be played', 'damaged') as Error).message).toBe('"film.mp4" could not be played: it takes longer to decode than one file may take');
    const stopping = new Error('worker stopping');
    expect(mediaToolFailure(stopping, 'x', 'y')).toBe(stopping);
  });

  it('fails with the tail of stderr when ffmpeg fails', async () => {
    const err: unknown = await runFfmpeg(['-v', 'error', '-i', 'file:/nonexistent/video.mp4', '-f', 'null', '-']).catch((e) => e);
    expect(err).toBeInstanceOf(FfmpegError);
    expect((err as FfmpegError).exitCode).not.toBe(0);
    expect((err as FfmpegError).message).toMatch(/No such file or directory/);
  });
});

describe('parseIso6709', () => {
  it('reads decimal degrees with altitude', () => {
    expect(parseIso6709('+48.8584+002.2945+035.000/')).toEqual({ latitude: 48.8584, longitude: 2.2945, altitude: 35 });
    expect(parseIso6709('-33.8568+151.2153/')).toEqual({ latitude: -33.8568, longitude: 151.2153, altitude: null });
  });

  it('reads degrees and minutes, and degrees minutes seconds', () => {
    const dm = parseIso6709('+4851.504+00217.670/')!;
    expect(dm.latitude).toBeCloseTo(48.8584, 4);
    expect(dm.longitude).toBeCloseTo(2.2945, 3);
    const dms = parseIso6709('+485130.24+0021740.2/')!;
    expect(dms.latitude).toBeCloseTo(48.8584, 4);
    expect(dms.longitude).toBeCloseTo(2.2945, 3);
  });

  it('treats no fix, out-of-range and junk as no location', () => {
    expect(parseIso6709('+00.0000+000.0000/')).toBeNull();
    expect(parseIso6709('+91.0000+002.0000/')).toBeNull();
    expect(parseIso6709('Paris')).toBeNull();
  });
});
