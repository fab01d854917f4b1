import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { AppError } from '../src/domain/errors.js';
import { ffmpegPath } from '../src/media/ffmpeg.js';
import { sanitizeFilename, SNIFF_BYTES, sniffFile } from '../src/media/file-policy.js';
import { jpeg as makeJpeg, pdf as makePdf, wav as makeWav } from './support/media.js';

const jpeg = () => makeJpeg(8, 8, '#c0ffee');
const png = () => sharp({ create: { width: 8, height: 8, channels: 4, background: '#00000000' } }).png().toBuffer();
const pdf = makePdf();
const wav = () => makeWav(800, () => 0);

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected a refusal, got ${String(err)}`);
  return err;
}

describe('sniffFile', () => {
  it('recognises photos, audio and documents from their bytes, not their claims', async () => {
    expect(await sniffFile(await jpeg(), 'image/jpeg')).toEqual({ fileType: 'IMAGE', mimeType: 'image/jpeg' });
    expect(await sniffFile(await png(), 'application/octet-stream')).toEqual({ fileType: 'IMAGE', mimeType: 'image/png' });
    expect(await sniffFile(await png(), 'image/jpeg')).toEqual({ fileType: 'IMAGE', mimeType: 'image/png' });
    expect(await sniffFile(wav(), 'audio/wav')).toEqual({ fileType: 'AUDIO', mimeType: 'audio/wav' });
    expect(await sniffFile(pdf, 'application/pdf')).toEqual({ fileType: 'DOCUMENT', mimeType: 'application/pdf' });
    expect(await sniffFile(Buffer.from('Dear Rose,\nthank you — ☀️\n'), 'text/plain')).toEqual({ fileType: 'DOCUMENT', mimeType: 'text/plain' });
  });

  it.each([
    ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), 'image/svg+xml'],
    ['HTML', Buffer.from('<!DOCTYPE html><html><body>hi</body></html>'), 'text/html'],
    ['HTML claiming to be text', Buffer.from('<html><script>steal()</script></html>'), 'text/plain'],
    ['a Windows executable', Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200)]), 'image/jpeg'],
    ['an ELF executable', Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(200)]), 'application/octet-stream'],
    ['a zip archive', Buffer.concat([Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00', 'latin1'), Buffer.alloc(100)]), 'application/zip'],
    ['unknown binary', Buffer.from([1, 2, 3, 4, 5, 6, 7, 8, 9]), 'application/octet-stream'],
    ['binary claiming to be text', Buffer.from([0x00, 0xff, 0xfe, 0x00, 0x41]), 'text/plain'],
  ])('refuses %s', async (_name, bytes, declared) => {
    expect((await refusal(sniffFile(bytes, declared))).code).toBe('UNSUPPORTED_FILE_TYPE');
  });

  it('refuses a PDF that claims to be a photo', async () => {
    const err = await refusal(sniffFile(pdf, 'image/jpeg'));
    expect(err.message).toMatch(/declared as image\/jpeg but its bytes are application\/pdf/);
  });

  it('refuses a JPEG carrying script markup (a browser-sniffable polyglot)', async () => {
    const photo = await jpeg();
    const comment = Buffer.from('<script>alert(document.cookie)</script>');
    // A JPEG comment segment (FFFE) right after SOI: still a valid JPEG.
    const seg = Buffer.concat([Buffer.from([0xff, 0xfe, 0, comment.length + 2]), comment]);
    const polyglot = Buffer.concat([photo.subarray(0, 2), seg, photo.subarray(2)]);
    expect((await sharp(polyglot).metadata()).format).toBe('jpeg');
    expect((await refusal(sniffFile(polyglot.subarray(0, SNIFF_BYTES), 'image/jpeg'))).code).toBe('UNSUPPORTED_FILE_TYPE');
  });
});

describe('sanitizeFilename', () => {
  it.each([
    ['  Grandma at the lake.JPG ', 'Grandma at the lake.JPG'],
    ['Zoe\u0301.png', 'Zoé.png'],
    ['invoice\u202Egpj.exe', 'invoicegpj.exe'],
    ['../../etc/passwd', '_.._etc_passwd'],
    ['..hidden', 'hidden'],
    ['a\u0000b\u0007c.txt', 'abc.txt'],
    ['C:\\Users\\me\\photo.jpg', 'C__Users_me_photo.jpg'],
    ['\u200b', 'untitled'],
  ])('%j → %j', (input, output) => {
    expect(sanitizeFilename(input)).toBe(output);
  });

  it('keeps at most 255 bytes of UTF-8, the extension intact, no split characters', () => {
    const name = sanitizeFilename(`${'ü'.repeat(300)}.jpeg`);
    expect(Buffer.byteLength(name)).toBeLessThanOrEqual(255);
    expect(name.endsWith('.jpeg')).toBe(true);
    expect(name).not.toContain('\ufffd');
  });
});

describe('sniffFile under the names file-type gives', () => {
  const execFileP = promisify(execFile);
  const encode = async (ext: string, codecs: string[]): Promise<Buffer> => {
    const dir = await mkdtemp(join(tmpdir(), 'dmc-sniff-'));
    try {
      const out = join(dir, `x.${ext}`);
      const input = ['-f', 'lavfi', '-i', 'testsrc=size=64x48:rate=5', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000', '-t', '1'];
      await execFileP(ffmpegPath(), ['-nostdin', '-v', 'error', '-y', ...input, ...codecs, out]);
      return (await readFile(out)).subarray(0, SNIFF_BYTES);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  // Matroska, AVI and Opus were listed only under their x- names, so every real one was refused.
  it.each([
    ['Matroska', 'mkv', ['-map', '0:v', '-map', '1:a', '-c:v', 'mpeg4', '-c:a', 'libmp3lame'], 'video/x-matroska', { fileType: 'VIDEO', mimeType: 'video/matroska' }],
    ['AVI', 'avi', ['-map', '0:v', '-map', '1:a', '-c:v', 'mpeg4', '-c:a', 'libmp3lame'], 'video/x-msvideo', { fileType: 'VIDEO', mimeType: 'video/vnd.avi' }],
    ['Opus', 'opus', ['-map', '1:a', '-c:a', 'libopus'], 'audio/opus', { fileType: 'AUDIO', mimeType: 'audio/ogg; codecs=opus' }],
  ])('accepts %s', async (_name, ext, codecs, declared, expected) => {
    const head = await encode(ext, codecs);
    expect(await sniffFile(head, declared)).toEqual(expected);
    expect(await sniffFile(head, 'application/octet-stream')).toEqual(expected);
  });
});
