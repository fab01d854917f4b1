import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ffmpegPath } from '../../src/media/ffmpeg.js';
import type { PipelineContext } from '../../src/media/pipeline.types.js';

/** Real audio and video made on the spot with the packaged ffmpeg, in a temporary folder. */

const exec = promisify(execFile);

export interface MediaDir {
  dir: string;
  path(name: string): string;
  remove(): Promise<void>;
}

export async function mediaDir(): Promise<MediaDir> {
  const dir = await mkdtemp(join(tmpdir(), 'dmc-media-'));
  return { dir, path: (name) => join(dir, name), remove: () => rm(dir, { recursive: true, force: true }) };
}

async function ffmpeg(args: string[]): Promise<void> {
  await exec(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', ...args]);
}

export interface VideoOptions {
  seconds?: number;
  /** ISO date written as the container's creation time. */
  creationTime?: string;
  /** ISO 6709 point, written as the `location` tag (udta ©xyz in MP4). */
  location?: string;
}

/** A 320×240, 10 fps H.264 test pattern with a 440 Hz tone (AAC). */
export async function makeVideo(out: string, options: VideoOptions = {}): Promise<string> {
  const { seconds = 3, creationTime, location } = options;
  await ffmpeg([
    '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10',
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
    '-t', String(seconds),
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac',
    ...(creationTime ? ['-metadata', `creation_time=${creationTime}`] : []),
    ...(location ? ['-metadata', `location=${location}`] : []),
    out,
  ]);
  return out;
}

/** A silent video of a still photo (scaled to 1280 px wide): a film whose poster shows real things. */
export async function makeStillVideo(photo: string, out: string, seconds = 2): Promise<string> {
  await ffmpeg(['-loop', '1', '-i', photo, '-t', String(seconds), '-r', '5', '-vf', 'scale=1280:-2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

/** A silent 320×240 video. */
export async function makeSilentVideo(out: string, seconds = 2): Promise<string> {
  await ffmpeg(['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-t', String(seconds), '-c:v', 'libx264', '-pix_fmt', 'yuv420p', out]);
  return out;
}

/**
 * A copy of `source` marked to be shown turned 90° (as phones record portrait video). The mark
 * must be added by stream copy: this ffmpeg drops the `rotate` tag when it re-encodes.
 */
export async function makeRotatedCopy(source: string, out: string): Promise<string> {
  await ffmpeg(['-i', source, '-c', 'copy', '-map', '0', '-metadata:s:v:0', 'rotate=90', out]);
  return out;
}

export interface AudioOptions {
  seconds?: number;
  creationTime?: string;
}

/**
 * An AAC (.m4a) recording like a voice memo: one second of silence, then a 440 Hz tone whose
 * loudness swells at 3 Hz, as speech does.
 */
export async function makeVoiceMemo(out: string, options: AudioOptions = {}): Promise<string> {
  const { seconds = 2.5, creationTime } = options;
  const expr = 'if(lt(t,1),0,0.8*sin(2*PI*440*t)*(0.6+0.4*sin(2*PI*3*t)))';
  await ffmpeg([
    '-f', 'lavfi', '-i', `aevalsrc=exprs='${expr}':s=44100:d=${seconds}`,
    '-c:a', 'aac', '-b:a', '64k',
    ...(creationTime ? ['-metadata', `creation_time=${creationTime}`] : []),
    out,
  ]);
  return out;
}

/** Bytes that no demuxer recognises. */
export async function makeGarbage(out: string, bytes = 8192): Promise<string> {
  await writeFile(out, randomBytes(bytes));
  return out;
}

/** The first `bytes` of a real file: an upload cut off half-way (the MP4 index is at the end). */
export async function makeTruncatedCopy(source: string, out: string, bytes = 16_384): Promise<string> {
  await writeFile(out, (await readFile(source)).subarray(0, bytes));
  return out;
}

export interface StoredDerivative {
  body: Buffer;
  mimeType: string;
}

export interface TestContext extends PipelineContext {
  /** Derivatives by name, as the sink received them. */
  stored: Map<string, StoredDerivative>;
  /** Every progress report, in order. */
  stages: Array<{ stage: string; percent: number }>;
}

/** A pipeline context that keeps derivatives in memory and returns `test/<name>` keys. */
export function testContext(signal?: AbortSignal): TestContext {
  const stored = new Map<string, StoredDerivative>();
  const stages: Array<{ stage: string; percent: number }> = [];
  return {
    stored,
    stages,
    signal,
    derivatives: async (name, body, mimeType) => {
      stored.set(name, { body: Buffer.isBuffer(body) ? body : await readFile(body.path), mimeType });
      return `test/${name}`;
    },
    report: async (stage, percent) => {
      stages.push({ stage, percent });
    },
  };
}
