import { dirname, join } from 'node:path';
import sharp from 'sharp';
import { rgbaToThumbHash } from 'thumbhash';
import {
  mediaToolFailure,
  ffprobe,
  fileUrl,
  numberOrNull,
  probeDate,
  probeLocation,
  runFfmpeg,
  tag,
  type ProbeResult,
  type ProbeStream,
} from './ffmpeg.js';
import { videoRendition } from './rendition.js';
import { MediaError, type DerivedImage, type PipelineContext, type PipelineInput, type PipelineResult } from './pipeline.types.js';

/** Poster sizes (longest side) clients choose from: a grid tile and a full-width view. */
const POSTER_SIZES = [256, 1024] as const;
/** The poster is taken a little way in: first frames are often black or a fade-in. */
const POSTER_AT_FRACTION = 0.1;
const POSTER_AT_MAX_SECONDS = 3;

/**
 * Reads a video's facts, makes poster thumbnails, a placeholder and the metadata-free preview that
 * people outside the family watch. `probed`: the caller already ran ffprobe.
 */
export async function processVideo(input: PipelineInput, ctx: PipelineContext, probed?: ProbeResult): Promise<PipelineResult> {
  await ctx.report('probe', 0);
  const probe = probed ?? (await ffprobe(input.path, { signal: ctx.signal }));
  const video = pictureStream(probe);
  if (!video) throw new MediaError(`"${input.filename}" has no pictures in it, so it cannot be shown as a video`);
  const audio = probe.streams.find((s) => s.codec_type === 'audio');
  const durationSeconds = numberOrNull(probe.format.duration) ?? numberOrNull(video.duration);
  const rotation = rotationOf(video);
  const sideways = rotation === 90 || rotation === 270;
  const width = (sideways ? video.height : video.width) ?? null;
  const height = (sideways ? video.width : video.height) ?? null;

  await ctx.report('poster', 30);
  const frame = await posterFrame(input, video.index, durationSeconds, ctx.signal);

  await ctx.report('thumbnails', 60);
  const thumbnails: DerivedImage[] = [];
  for (const size of POSTER_SIZES) {
    ctx.signal?.throwIfAborted();
    const { data, info } = await sharp(frame)
      .resize(size, size, { fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 80 })
      .toBuffer({ resolveWithObject: true });
    const name = `poster-${size}`;
    const storageKey = await ctx.derivatives(name, data, 'image/webp');
    thumbnails.push({ name, width: info.width, height: info.height, mimeType: 'image/webp', storageKey });
  }
  const placeholder = await thumbHash(frame);

  await ctx.report('rendition', 70);
  const copy = await videoRendition({ source: input.path, out: join(dirname(input.path), 'preview.mp4'), streamIndex: video.index, filename: input.filename, durationSeconds, signal: ctx.signal });
  const preview = { name: 'video', mimeType: copy.mimeType, size: copy.size, storageKey: await ctx.derivatives('video', copy, copy.mimeType) };
  await ctx.report('rendition', 100);

  return {
    preview,
    width,
    height,
    durationSeconds,
    dateTaken: probeDate(probe),
    location: probeLocation(probe),
    thumbnails,
    placeholder,
    hasAudio: audio !== undefined,
    metadata: {
      container: probe.format.format_name ?? null,
      videoCodec: video.codec_name ?? null,
      audioCodec: audio?.codec_name ?? null,
      rotation,
      bitRate: numberOrNull(probe.format.bit_rate),
    },
  };
}

/** The moving picture, if any: an MP3's or M4A's cover art is a video stream too, marked attached_pic. */
export const pictureStream = (probe: ProbeResult): ProbeStream | undefined =>
  probe.streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);

/**
 * Clockwise degrees the picture is turned when shown: the display matrix (what current ffprobe
 * reports) or the older `rotate` tag. Only right angles are meaningful for width and height.
 */
function rotationOf(stream: ProbeStream): number {
  const matrix = stream.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  const raw = matrix ?? numberOrNull(tag(stream.tags, 'rotate')) ?? 0;
  const normalised = ((Math.round(raw / 90) * 90) % 360 + 360) % 360;
  return normalised;
}

/** One decoded frame as PNG. ffmpeg applies the rotation itself, so the frame is upright. */
async function posterFrame(
  input: PipelineInput,
  streamIndex: number,
  duration: number | null,
  signal: AbortSignal | undefined,
): Promise<Buffer> {
  const at = posterSeconds(duration);
  // -ss before -i seeks in the container (fast) instead of decoding everything up to `at`.
  const grab = (seconds: number): Promise<Buffer> =>
    runFfmpeg(
      ['-v', 'error', '-ss', seconds.toFixed(3), '-i', fileUrl(input.path), '-map', `0:${streamIndex}`,
        '-frames:v', '1', '-an', '-sn', '-dn', '-f', 'image2pipe', '-vcodec', 'png', '-'],
      { signal },
    );
  try {
    let frame = await grab(at);
    // A wrong duration in the header can put `at` past the last frame; the first one will do.
    if (frame.length === 0 && at > 0) frame = await grab(0);
    if (frame.length === 0) throw new MediaError(`No picture could be read from "${input.filename}"`);
    return frame;
  } catch (err) {
    // ffmpeg exiting with an error on a file ffprobe accepted means broken data, not bad luck.
    throw mediaToolFailure(err, `"${input.filename}" could not be played`, 'the video may be damaged');
  }
}

/** Where in a film its poster frame is taken (seconds): the AI step searches the same frame through the poster. */
export const posterSeconds = (duration: number | null): number =>
  duration && duration >= 1 ? Math.min(duration * POSTER_AT_FRACTION, POSTER_AT_MAX_SECONDS) : 0;

/** ThumbHash wants at most 100×100 RGBA. */
async function thumbHash(image: Buffer): Promise<string> {
  const { data, info } = await sharp(image)
    .resize(100, 100, { fit: 'inside', withoutEnlargement: true })
    .ensureAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
  return Buffer.from(rgbaToThumbHash(info.width, info.height, data)).toString('base64');
}
