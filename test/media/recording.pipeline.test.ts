import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileType } from '../../src/db/enums.js';
import { ffmpegPath } from '../../src/media/ffmpeg.js';
import { processRecording } from '../../src/media/recording.pipeline.js';
import { makeVideo, makeVoiceMemo, mediaDir, testContext, type MediaDir } from '../support/media-ffmpeg.js';

const exec = promisify(execFile);
let media: MediaDir;

beforeAll(async () => {
  media = await mediaDir();
});
afterAll(() => media.remove());

describe('processRecording: the streams decide between audio and video', () => {
  it('a film declared as audio/mp4 is a video, with posters and a transcoded preview', async () => {
    const film = await makeVideo(media.path('film.mp4'), { seconds: 2 });
    const ctx = testContext();
    const result = await processRecording({ path: film, mimeType: 'audio/mp4', filename: 'recording.m4a' }, ctx);
    expect(result.fileType).toBe(FileType.VIDEO);
    expect(result.thumbnails.map((t) => t.name).sort()).toEqual(['poster-1024', 'poster-256']);
    expect(result.preview).toMatchObject({ name: 'video', mimeType: 'video/mp4' });
  });

  it('an MP3 with cover art is a recording: cover art is not a picture stream', async () => {
    const memo = await makeVoiceMemo(media.path('memo.m4a'), { seconds: 1.5 });
    const cover = media.path('cover.png');
    await exec(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', '-f', 'lavfi', '-i', 'color=c=red:s=64x64', '-frames:v', '1', cover]);
    const song = media.path('song.mp3');
    await exec(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', '-i', memo, '-i', cover, '-map', '0:a', '-map', '1:v', '-c:a', 'libmp3lame', '-c:v', 'png', '-disposition:v', 'attached_pic', song]);
    const ctx = testContext();
    const result = await processRecording({ path: song, mimeType: 'audio/mpeg', filename: 'recording.mp3' }, ctx);
    expect(result.fileType).toBe(FileType.AUDIO);
    expect(result.preview).toMatchObject({ name: 'audio', mimeType: 'audio/mp4' });
    expect(result.waveform).toHaveLength(200);
  });

  it('a voice memo declared as video/mp4 is a recording', async () => {
    const memo = await makeVoiceMemo(media.path('memo2.m4a'), { seconds: 1.5 });
    const result = await processRecording({ path: memo, mimeType: 'video/mp4', filename: 'video.mp4' }, testContext());
    expect(result.fileType).toBe(FileType.AUDIO);
  });
});
