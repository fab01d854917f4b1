import { FileType } from '../db/enums.js';
import { processAudio } from './audio.pipeline.js';
import { ffprobe } from './ffmpeg.js';
import type { PipelineContext, PipelineInput, PipelineResult } from './pipeline.types.js';
import { pictureStream, processVideo } from './video.pipeline.js';

/**
 * Audio and video share containers (MP4, Matroska, Ogg), so what the client declared, and the
 * container's brand, decide nothing: the streams do. A file with moving pictures is a video (an
 * MP4 film sent as "audio/mp4" gets a poster and a transcoded preview, never served as it came);
 * one with only sound (cover art is not a picture stream) is a recording.
 */
export async function processRecording(input: PipelineInput, ctx: PipelineContext): Promise<PipelineResult> {
  await ctx.report('probe', 0);
  const probe = await ffprobe(input.path, { signal: ctx.signal });
  const hasSound = probe.streams.some((s) => s.codec_type === 'audio');
  if (pictureStream(probe) || !hasSound) return { ...(await processVideo(input, ctx, probe)), fileType: FileType.VIDEO };
  return { ...(await processAudio(input, ctx, probe)), fileType: FileType.AUDIO };
}
