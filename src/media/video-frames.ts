import { join } from 'node:path';
import { stat } from 'node:fs/promises';
import { FfmpegError, ffprobe, fileUrl, numberOrNull, runFfmpeg } from './ffmpeg.js';
import { MediaError } from './pipeline.types.js';
import { pictureStream, posterSeconds } from './video.pipeline.js';

/**
 * Frames of a film for the AI step to look at besides its poster (faces of people who are not in
 * the poster frame): a bounded number, evenly spaced over the whole film, each a metadata-free
 * WebP of at most FRAME_SIDE px written by the bundled ffmpeg (under the media tools' memory cap,
 * killed with the job). Seeking before the input keeps each grab to one keyframe's decoding, so a
 * long film costs the same as a short one.
 */

/**
 * At most this many frames besides the poster. Each costs a seek (about 0.3 s for 1080p here) and
 * a look by the face engine (0.3 to 0.8 s a 1024 px frame on a loaded core): 7 to 9 s more per film
 * on two busy cores (docs/people-and-privacy.md "Faces and people"), whatever its length. For the family clips this is
 * for (seconds to a few minutes) 12 frames are one every few seconds: someone on camera for a
 * twelfth of the film is always seen. Someone on camera for less in a long film can be missed
 * (docs/people-and-privacy.md "Consent"); more frames would cost every film, for every AI step run.
 */
export const MAX_FILM_FRAMES = 12;
/** Frames are at least this far apart: a 5 s clip gets 5, not 12 nearly identical ones. */
const MIN_SPACING_SECONDS = 1;
/** The side of the frames: that of the poster-1024 the poster's faces are found on. */
const FRAME_SIDE = 1024;
/** One seek and one frame; a grab taking longer is a damaged file. */
const GRAB_TIMEOUT_MS = 60_000;

export interface FilmFrame {
  /** Seconds into the film. */
  atSeconds: number;
  /** The WebP frame. */
  path: string;
}

/**
 * Where the frames are taken: the middles of MAX_FILM_FRAMES equal parts of the film (fewer
 * when it is short), without the one the poster frame already stands for.
 */
export function filmFrameTimes(durationSeconds: number | null): number[] {
  if (!durationSeconds || durationSeconds < MIN_SPACING_SECONDS) return [];
  const count = Math.min(MAX_FILM_FRAMES, Math.floor(durationSeconds / MIN_SPACING_SECONDS));
  const step = durationSeconds / count;
  const poster = posterSeconds(durationSeconds);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = Math.round((i + 0.5) * step * 1000) / 1000;
    // The poster frame is searched already: a sample within a quarter of a step of it would show the same.
    if (Math.abs(at - poster) < step / 4) continue;
    times.push(at);
  }
  return times;
}

export interface SampleFramesInput {
  /** The film (the original, on local disk). */
  path: string;
  /** Where to write the frames (the step's temporary folder). */
  dir: string;
  signal?: AbortSignal;
  /** Told about a frame that could not be read (a damaged stretch of the film; null: the film itself), which is skipped. */
  onSkipped?: (atSeconds: number | null, err: unknown) => void;
}

/**
 * Writes the film's sample frames (filmFrameTimes) into `dir`, in order. A frame past the real
 * end (a wrong duration in the header) or one ffmpeg cannot decode is skipped, and so is the
 * whole sample when ffprobe cannot read the film (the poster stands alone then); the job
 * stopping rejects.
 */
export async function sampleFilmFrames(input: SampleFramesInput): Promise<FilmFrame[]> {
  const { signal } = input;
  const probe = await ffprobe(input.path, { signal }).catch((err: unknown) => {
    if (!(err instanceof MediaError)) throw err;
    input.onSkipped?.(null, err);
    return null;
  });
  const video = probe && pictureStream(probe);
  if (!video) return [];
  const duration = numberOrNull(probe!.format.duration) ?? numberOrNull(video.duration);
  const frames: FilmFrame[] = [];
  for (const [i, at] of filmFrameTimes(duration).entries()) {
    signal?.throwIfAborted();
    const out = join(input.dir, `frame-${i}.webp`);
    try {
      // ffmpeg turns the frame upright itself; no metadata is written (-map_metadata -1, and WebP frames carry none).
      await runFfmpeg(
        ['-v', 'error', '-y', '-ss', at.toFixed(3), '-i', fileUrl(input.path), '-map', `0:${video.index}`, '-frames:v', '1', '-an', '-sn', '-dn',
          '-vf', `scale='min(${FRAME_SIDE},iw)':'min(${FRAME_SIDE},ih)':force_original_aspect_ratio=decrease`,
          '-map_metadata', '-1', '-c:v', 'libwebp', '-quality', '80', '-f', 'image2', fileUrl(out)],
        { signal, timeoutMs: GRAB_TIMEOUT_MS },
      );
      if ((await stat(out).catch(() => null))?.size) frames.push({ atSeconds: at, path: out });
    } catch (err) {
      if (!(err instanceof FfmpegError)) throw err;
      input.onSkipped?.(at, err);
    }
  }
  return frames;
}
