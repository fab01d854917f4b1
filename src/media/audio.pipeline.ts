import { dirname, join } from 'node:path';
import { ffprobe, mediaToolFailure, fileUrl, numberOrNull, probeDate, probeLocation, type ProbeResult, streamFfmpeg } from './ffmpeg.js';
import { MediaError, type PipelineContext, type PipelineInput, type PipelineResult } from './pipeline.types.js';
import { audioRendition } from './rendition.js';

/** Bars in a player's waveform. */
export const WAVEFORM_BUCKETS = 200;
/** A waveform only needs peaks, which survive a low sample rate; 8 kHz keeps decoding cheap. */
const SAMPLE_RATE = 8000;
/**
 * Below this (about −60 dBFS) a recording is treated as silence and not scaled up, so hiss in
 * an empty recording does not draw as a loud waveform.
 */
const SILENCE_PEAK = 0.001;

/**
 * Reads an audio file's facts, draws its waveform and makes the metadata-free copy that people
 * outside the family play. `probed`: the caller already ran ffprobe (to tell audio from video).
 */
export async function processAudio(input: PipelineInput, ctx: PipelineContext, probed?: ProbeResult): Promise<PipelineResult> {
  await ctx.report('probe', 0);
  const probe = probed ?? (await ffprobe(input.path, { signal: ctx.signal }));
  const audio = probe.streams.find((s) => s.codec_type === 'audio');
  if (!audio) throw new MediaError(`"${input.filename}" has no sound in it`);
  const durationSeconds = numberOrNull(probe.format.duration) ?? numberOrNull(audio.duration);

  await ctx.report('waveform', 20);
  let waveform: number[];
  try {
    waveform = await decodeWaveform(input.path, audio.index, durationSeconds, ctx.signal);
  } catch (err) {
    throw mediaToolFailure(err, `"${input.filename}" could not be played`, 'the recording may be damaged');
  }
  await ctx.report('rendition', 60);
  const copy = await audioRendition({ source: input.path, out: join(dirname(input.path), 'preview.m4a'), streamIndex: audio.index, filename: input.filename, durationSeconds, signal: ctx.signal });
  const preview = { name: 'audio', mimeType: copy.mimeType, size: copy.size, storageKey: await ctx.derivatives('audio', copy, copy.mimeType) };
  await ctx.report('rendition', 100);

  return {
    preview,
    durationSeconds,
    dateTaken: probeDate(probe),
    location: probeLocation(probe),
    thumbnails: [],
    waveform,
    hasAudio: true,
    metadata: {
      codec: audio.codec_name ?? null,
      sampleRate: numberOrNull(audio.sample_rate),
      channels: audio.channels ?? null,
      bitRate: numberOrNull(audio.bit_rate) ?? numberOrNull(probe.format.bit_rate),
    },
  };
}

/**
 * Decodes to mono 16-bit PCM and keeps only the peak of each small block while streaming, so a
 * long recording is never held in memory; the blocks are then folded into the buckets.
 */
async function decodeWaveform(
  path: string,
  streamIndex: number,
  duration: number | null,
  signal: AbortSignal | undefined,
): Promise<number[]> {
  // About ten blocks per bucket when the duration is known; 10 ms blocks otherwise.
  const expectedSamples = duration ? duration * SAMPLE_RATE : null;
  const blockSize = expectedSamples ? Math.max(1, Math.floor(expectedSamples / (WAVEFORM_BUCKETS * 10))) : 80;
  const blocks: number[] = [];
  let blockPeak = 0;
  let inBlock = 0;
  let carry: Buffer | null = null; // an odd byte split across chunks

  await streamFfmpeg(
    ['-v', 'error', '-i', fileUrl(path), '-map', `0:${streamIndex}`, '-vn', '-sn', '-dn',
      '-ac', '1', '-ar', String(SAMPLE_RATE), '-f', 's16le', '-acodec', 'pcm_s16le', '-'],
    (chunk) => {
      const data: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
      const usable = data.length - (data.length % 2);
      carry = usable < data.length ? data.subarray(usable) : null;
      for (let i = 0; i < usable; i += 2) {
        const sample = Math.abs(data.readInt16LE(i));
        if (sample > blockPeak) blockPeak = sample;
        if (++inBlock === blockSize) {
          blocks.push(blockPeak);
          blockPeak = 0;
          inBlock = 0;
        }
      }
    },
    { signal },
  );
  if (inBlock > 0) blocks.push(blockPeak);
  return toBuckets(blocks, WAVEFORM_BUCKETS);
}

/** Folds block peaks into `count` buckets, scaled so the loudest is 1 (rounded to 3 decimals). */
export function toBuckets(blocks: readonly number[], count: number): number[] {
  if (blocks.length === 0) return new Array<number>(count).fill(0);
  const peaks: number[] = [];
  for (let b = 0; b < count; b++) {
    const start = Math.floor((b * blocks.length) / count);
    // A recording shorter than `count` blocks repeats blocks instead of leaving gaps.
    const end = Math.max(start + 1, Math.floor(((b + 1) * blocks.length) / count));
    let peak = 0;
    for (let i = start; i < end; i++) peak = Math.max(peak, blocks[i]!);
    peaks.push(peak / 32768);
  }
  const loudest = Math.max(...peaks);
  const scale = loudest >= SILENCE_PEAK ? loudest : 1;
  return peaks.map((p) => Math.min(1, Math.round((p / scale) * 1000) / 1000));
}
