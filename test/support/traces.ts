import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Document, Packer, Paragraph } from 'docx';
import exifr from 'exifr';
import JSZip from 'jszip';
import sharp from 'sharp';
import { getDocumentProxy, getMeta } from 'unpdf';
import { ffmpegPath, ffprobePath } from '../../src/media/ffmpeg.js';
import { DOCX_MIME } from '../../src/media/document.pipeline.js';
import { buildPdf } from './media.js';

/**
 * Files that say where and by whom they were made, in every format the chest accepts that can
 * hold it, and a detector that finds those traces again in whatever bytes come back. One unusual
 * place (the Eiffel Tower's foot) and one unusual name, so a hit cannot be a coincidence.
 */

const exec = promisify(execFile);

export const PLACE = { latitude: 48.85837, longitude: 2.294481 };
export const AUTHOR = 'Agatha Quill';
const ISO6709 = '+48.858370+002.294481/';

/**
 * How the place and the name appear as text: decimal with a point or a comma, ISO 6709, exiftool's
 * and XMP's degree forms (48 deg 51' 30.13", 48,51.5022N), and the author in any case.
 */
const NEEDLES = ['48.858', '48,858', '+48.85', '48 deg 51', '48,51.50', '2.2944', '2,2944', '002.294', '2 deg 17', '2,17.66', 'agatha', 'quill'];

export async function hasExiftool(): Promise<boolean> {
  return exec('exiftool', ['-ver']).then(
    () => true,
    () => false,
  );
}

/** One file to upload: its bytes, the name a phone would give it, and the type it is declared as. */
export interface TracedFile {
  key: string;
  bytes: Buffer;
  /** Names carry traces too: people name files after streets and people. */
  filename: string;
  mimeType: string;
}

async function exiftoolWrite(path: string, args: string[]): Promise<void> {
  await exec('exiftool', ['-q', '-overwrite_original', ...args, path]);
}

const GPS_AND_AUTHOR = [
  `-GPSLatitude=${PLACE.latitude}`, '-GPSLatitudeRef=N', `-GPSLongitude=${PLACE.longitude}`, '-GPSLongitudeRef=E',
  `-Artist=${AUTHOR}`, `-XMP-dc:Creator=${AUTHOR}`,
];

async function ffmpeg(args: string[]): Promise<void> {
  await exec(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', ...args]);
}

/** Every format of the allow-list that can carry a place or an author (HEIC: sharp cannot write it here; raw AAC and AMR streams hold no tags). */
export async function makeTracedFiles(dir: string): Promise<TracedFile[]> {
  const at = (name: string) => join(dir, name);
  const picture = sharp({ create: { width: 480, height: 360, channels: 3, background: '#c84' } }).composite([
    { input: { create: { width: 160, height: 120, channels: 3, background: '#123' } }, top: 20, left: 20 },
  ]);
  const images: Array<[string, string, (s: sharp.Sharp) => sharp.Sharp]> = [
    ['jpeg', 'image/jpeg', (s) => s.jpeg()],
    ['png', 'image/png', (s) => s.png()],
    ['webp', 'image/webp', (s) => s.webp()],
    ['avif', 'image/avif', (s) => s.avif()],
  ];
  const files: Array<Omit<TracedFile, 'bytes'> & { path: string }> = [];
  for (const [ext, mimeType, encode] of images) {
    const path = at(`a.${ext}`);
    await encode(picture.clone()).toFile(path);
    await exiftoolWrite(path, GPS_AND_AUTHOR);
    files.push({ key: ext, path, filename: `Agatha Quill garden 48.858370.${ext}`, mimeType });
  }

  // The rest of the allow-list that can carry a place or a name (types left to the sniffer).
  await picture.clone().tiff().toFile(at('scan.tif'));
  await exiftoolWrite(at('scan.tif'), GPS_AND_AUTHOR);
  files.push({ key: 'tiff', path: at('scan.tif'), filename: 'Agatha Quill scan.tif', mimeType: 'image/tiff' });
  await picture.clone().gif().toFile(at('card.gif'));
  await exiftoolWrite(at('card.gif'), [`-XMP-dc:Creator=${AUTHOR}`, `-XMP-exif:GPSLatitude=${PLACE.latitude}`, '-XMP-exif:GPSLatitudeRef=N', `-XMP-exif:GPSLongitude=${PLACE.longitude}`, '-XMP-exif:GPSLongitudeRef=E']);
  files.push({ key: 'gif', path: at('card.gif'), filename: 'Agatha Quill card.gif', mimeType: 'image/gif' });

  const tags = ['-metadata', `location=${ISO6709}`, '-metadata', `artist=${AUTHOR}`, '-metadata', `title=Recorded by ${AUTHOR}`];
  const film = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100', '-t', '2', '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac'];
  await ffmpeg([...film, ...tags, at('film.mp4')]);
  files.push({ key: 'mp4', path: at('film.mp4'), filename: 'Agatha Quill birthday.mp4', mimeType: 'video/mp4' });
  await ffmpeg([...film, ...tags, '-f', 'mov', at('film.mov')]);
  files.push({ key: 'mov', path: at('film.mov'), filename: 'Agatha Quill birthday.mov', mimeType: 'video/quicktime' });
  // A film declared as a voice memo (other bytes: the same would be a duplicate): the streams, not the claim, make it a video.
  await ffmpeg([...film.map((a) => (a === '2' ? '3' : a)), ...tags, at('film-as-audio.mp4')]);
  files.push({ key: 'mp4-as-audio', path: at('film-as-audio.mp4'), filename: 'Agatha Quill memo.m4a', mimeType: 'audio/mp4' });

  const voice = ['-f', 'lavfi', '-i', "aevalsrc=exprs='0.8*sin(2*PI*440*t)*(0.6+0.4*sin(2*PI*3*t))':s=44100:d=2"];
  await ffmpeg([...voice, '-c:a', 'aac', '-b:a', '64k', ...tags, '-f', 'ipod', at('memo.m4a')]);
  files.push({ key: 'm4a', path: at('memo.m4a'), filename: 'Agatha Quill voice memo.m4a', mimeType: 'audio/mp4' });

  // An MP3 with ID3 tags and cover art whose EXIF holds the place.
  const cover = at('cover.jpg');
  await picture.clone().resize(200, 150).jpeg().toFile(cover);
  await exiftoolWrite(cover, GPS_AND_AUTHOR);
  await ffmpeg([
    ...voice, '-i', cover, '-map', '0:a', '-map', '1:v', '-c:a', 'libmp3lame', '-b:a', '64k', '-c:v', 'copy',
    '-id3v2_version', '3', ...tags, '-metadata', `comment=${PLACE.latitude}, ${PLACE.longitude}`,
    '-metadata:s:v', 'title=Album cover', '-metadata:s:v', 'comment=Cover (front)', '-disposition:v', 'attached_pic', at('song.mp3'),
  ]);
  files.push({ key: 'mp3', path: at('song.mp3'), filename: 'Agatha Quill song.mp3', mimeType: 'audio/mpeg' });

  const frames = ['-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=10', '-f', 'lavfi', '-i', 'sine=frequency=330:sample_rate=48000', '-t', '2'];
  const films: Array<[string, string, string[]]> = [
    ['webm', 'video/webm', ['-c:v', 'libvpx', '-b:v', '200k', '-c:a', 'libopus']],
    ['3gp', 'video/3gpp', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-ar', '16000', '-ac', '1']],
    ['mkv', 'video/x-matroska', ['-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac']],
    ['avi', 'video/x-msvideo', ['-c:v', 'mpeg4', '-c:a', 'libmp3lame']],
  ];
  for (const [ext, mimeType, codecs] of films) {
    await ffmpeg([...frames, ...codecs, ...tags, at(`film.${ext}`)]);
    files.push({ key: ext, path: at(`film.${ext}`), filename: `Agatha Quill film.${ext}`, mimeType });
  }
  const sounds: Array<[string, string, string[]]> = [
    ['wav', 'audio/wav', ['-c:a', 'pcm_s16le']],
    ['ogg', 'audio/ogg', ['-c:a', 'libvorbis']],
    ['opus', 'audio/opus', ['-c:a', 'libopus']],
  ];
  for (const [ext, mimeType, codecs] of sounds) {
    await ffmpeg([...voice.map((a) => a.replace('440', '523')), ...codecs, ...tags, at(`voice.${ext}`)]);
    files.push({ key: ext, path: at(`voice.${ext}`), filename: `Agatha Quill voice.${ext}`, mimeType });
  }
  // FLAC with Vorbis comments and a cover picture whose EXIF holds the place.
  await ffmpeg([...voice.map((a) => a.replace('440', '587')), '-i', cover, '-map', '0:a', '-map', '1:v', '-c:a', 'flac', '-c:v', 'copy', ...tags, '-disposition:v', 'attached_pic', at('voice.flac')]);
  files.push({ key: 'flac', path: at('voice.flac'), filename: 'Agatha Quill voice.flac', mimeType: 'audio/flac' });

  // The page text says nothing of the place or the author: only the metadata does.
  await writeFile(at('letter.pdf'), buildPdf([['Dear Rose,', 'the apple tree is in bloom again.']]));
  await exiftoolWrite(at('letter.pdf'), [`-Author=${AUTHOR}`, `-XMP-dc:Creator=${AUTHOR}`, `-XMP-exif:GPSLatitude=${PLACE.latitude}`, `-XMP-exif:GPSLongitude=${PLACE.longitude}`]);
  files.push({ key: 'pdf', path: at('letter.pdf'), filename: 'Agatha Quill letter.pdf', mimeType: 'application/pdf' });

  const docx = new Document({
    creator: AUTHOR,
    lastModifiedBy: AUTHOR,
    description: `Written at ${PLACE.latitude}, ${PLACE.longitude}`,
    sections: [{ children: [new Paragraph('The apple tree is in bloom again.')] }],
  });
  await writeFile(at('notes.docx'), await contentTypesFirst(await Packer.toBuffer(docx)));
  files.push({ key: 'docx', path: at('notes.docx'), filename: 'Agatha Quill notes.docx', mimeType: DOCX_MIME });

  return Promise.all(files.map(async ({ path, ...f }) => ({ ...f, bytes: await readFile(path) })));
}

/**
 * The docx package writes [Content_Types].xml last; Word writes it first, and the upload sniffer
 * (file-type, first 4100 bytes) needs it there to tell a Word file from any ZIP.
 */
async function contentTypesFirst(docx: Buffer): Promise<Buffer> {
  const zip = await JSZip.loadAsync(docx);
  const names = Object.keys(zip.files).filter((n) => !zip.files[n]!.dir);
  const out = new JSZip();
  for (const n of ['[Content_Types].xml', ...names.filter((n) => n !== '[Content_Types].xml')]) out.file(n, await zip.files[n]!.async('nodebuffer'));
  return out.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' });
}

/**
 * Every trace of the place or the author in `bytes`, as the tools people would use find them:
 * the raw bytes (Latin-1 and UTF-16, any case), exiftool (every format), exifr (photos), ffprobe
 * (tags, chapters, and the EXIF of any cover art), and pdf.js (Info and XMP). Empty: clean.
 */
export async function findTraces(bytes: Buffer, dir: string): Promise<string[]> {
  const found = new Set<string>();
  const haystacks = [bytes.toString('latin1').toLowerCase(), utf16(bytes), utf16(bytes.subarray(1))];
  for (const n of NEEDLES) if (haystacks.some((h) => h.includes(n))) found.add(`raw "${n}"`);
  const path = join(dir, `probe-${randomUUID()}`);
  await writeFile(path, bytes);
  try {
    const tool = await exec('exiftool', ['-j', '-n', '-a', '-G1', '-ee', path]).then((r) => r.stdout, () => '');
    for (const n of NEEDLES) if (tool.toLowerCase().includes(n)) found.add(`exiftool "${n}"`);
    if (/"[^"]*GPS(Latitude|Longitude|Position|Coordinates)[^"]*"/.test(tool)) found.add('exiftool GPS tag');

    const gps = await exifr.gps(bytes).catch(() => undefined);
    if (gps && Number.isFinite(gps.latitude)) found.add(`exifr GPS ${gps.latitude},${gps.longitude}`);

    const probe = await exec(ffprobePath(), ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', '-show_chapters', `file:${path}`]).then((r) => r.stdout, () => null);
    if (probe) {
      for (const n of NEEDLES) if (probe.toLowerCase().includes(n)) found.add(`ffprobe "${n}"`);
      const parsed = JSON.parse(probe) as { streams?: Array<{ index: number; disposition?: { attached_pic?: number } }>; chapters?: unknown[] };
      if (parsed.chapters?.length) found.add('ffprobe chapters');
      for (const s of parsed.streams ?? []) {
        if (!s.disposition?.attached_pic) continue;
        found.add('cover art');
        const pic = await exec(ffmpegPath(), ['-nostdin', '-v', 'error', '-i', `file:${path}`, '-map', `0:${s.index}`, '-c', 'copy', '-f', 'image2pipe', '-'], { encoding: 'buffer', maxBuffer: 64 << 20 });
        for (const t of await findTraces(pic.stdout, dir)) found.add(`cover art: ${t}`);
      }
    }

    if (bytes.subarray(0, 5).toString('latin1') === '%PDF-') {
      const pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
      const meta = JSON.stringify(await getMeta(pdf)).toLowerCase();
      await pdf.loadingTask.destroy();
      for (const n of NEEDLES) if (meta.includes(n)) found.add(`pdf.js metadata "${n}"`);
    }
  } finally {
    await rm(path, { force: true });
  }
  return [...found];
}

/**
 * UTF-16LE text (ID3v2 writes names that way) at either byte parity. Decoded from an aligned copy
 * of even length: Node 24.21 crashed here ("double free") decoding an odd-length, unaligned view.
 */
function utf16(bytes: Buffer): string {
  const even = Buffer.alloc(bytes.length - (bytes.length % 2));
  bytes.copy(even, 0, 0, even.length);
  return even.toString('utf16le').toLowerCase();
}

/** Every URL in a GraphQL answer (any field that holds a /files link or an http one). */
export function urlsIn(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string' && (value.startsWith('/files/') || /^https?:\/\//.test(value))) out.push(value);
  else if (Array.isArray(value)) for (const v of value) urlsIn(v, out);
  else if (value && typeof value === 'object') for (const v of Object.values(value)) urlsIn(v, out);
  return out;
}

/** The traces in an answer's own text (file names, mediaInfo, errors, ...). */
export function textTraces(value: unknown): string[] {
  const text = JSON.stringify(value).toLowerCase();
  return NEEDLES.filter((n) => text.includes(n));
}
