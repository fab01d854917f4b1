import { stat } from 'node:fs/promises';
import { fileUrl, mediaToolFailure, runFfmpeg } from './ffmpeg.js';
import { MediaError } from './pipeline.types.js';

/**
 * Metadata-free copies of recordings and videos: what people outside the family receive instead
 * of the original. A phone writes where it was (ISO 6709 `location`), who made it, the device,
 * chapters and cover art into the file; re-encoding rather than remuxing leaves nothing of the
 * original container behind, and the flags below drop every global, stream and chapter tag.
 */

/** The preview's longest side: enough to watch on a phone or laptop, small to send. */
export const PREVIEW_MAX_SIDE = 1280;

/** What every rendition drops: global and per-stream tags, chapters, subtitles, data tracks, encoder tags. */
const STRIP = ['-map_metadata', '-1', '-map_chapters', '-1', '-sn', '-dn', '-fflags', '+bitexact', '-flags:a', '+bitexact'] as const;

export interface RenditionFile {
  path: string;
  mimeType: string;
  size: number;
}

export interface RenditionInput {
  /** The original, on local disk. */
  source: string;
  /** Where to write the rendition (a temporary file the caller removes). */
  out: string;
  /** The stream to take: the recording's audio, or the video's pictures. */
  streamIndex: number;
  /** For messages to people only. */
  filename: string;
  /** Seconds, when known: a long film may take longer to re-encode than ffmpeg's usual time limit. */
  durationSeconds?: number | null;
  signal?: AbortSignal;
}

/** ffmpeg's usual limit, and how many seconds of encoding a second of film may take beyond it (slow machines). */
const BASE_TIMEOUT_MS = 10 * 60_000;
const MS_PER_SECOND_OF_MEDIA = 3000;

/** A recording as plain AAC in MP4 (M4A): the sound only; no cover art, chapters or tags. */
export async function audioRendition(input: RenditionInput): Promise<RenditionFile> {
  await encode(input, ['-map', `0:${input.streamIndex}`, '-vn', ...STRIP, '-c:a', 'aac', '-b:a', '96k', '-movflags', '+faststart', '-f', 'mp4']);
  return { path: input.out, mimeType: 'audio/mp4', size: (await stat(input.out)).size };
}

/**
 * A video as a small H.264/AAC MP4 (upright: ffmpeg applies the rotation while decoding), with the
 * first audio track if there is one; no tags, chapters, subtitles or data tracks.
 */
export async function videoRendition(input: RenditionInput): Promise<RenditionFile> {
  const fit = `min(1,min(${PREVIEW_MAX_SIDE}/iw,${PREVIEW_MAX_SIDE}/ih))`;
  await encode(input, [
    '-map', `0:${input.streamIndex}`, '-map', '0:a:0?', ...STRIP, '-flags:v', '+bitexact',
    // Even sizes: H.264 in 4:2:0 needs them.
    '-vf', `scale='trunc(${fit}*iw/2)*2':'trunc(${fit}*ih/2)*2'`,
    '-c:v', 'libx264', '-preset', 'veryfast', '-crf', '28', '-pix_fmt', 'yuv420p',
    '-c:a', 'aac', '-b:a', '96k', '-movflags', '+faststart', '-f', 'mp4',
  ]);
  return { path: input.out, mimeType: 'video/mp4', size: (await stat(input.out)).size };
}

async function encode(input: RenditionInput, args: string[]): Promise<void> {
  try {
    const timeoutMs = BASE_TIMEOUT_MS + Math.max(0, input.durationSeconds ?? 0) * MS_PER_SECOND_OF_MEDIA;
    await runFfmpeg(['-v', 'error', '-y', '-i', fileUrl(input.source), ...args, fileUrl(input.out)], { signal: input.signal, timeoutMs });
  } catch (err) {
    throw mediaToolFailure(err, `"${input.filename}" could not be converted for sharing`, 'the file may be damaged');
  }
}
