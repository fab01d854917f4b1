import { fileTypeFromBuffer } from 'file-type';
import { FileType } from '../db/enums.js';
import { AppError, ErrorCode } from '../domain/errors.js';
import { wideText } from './text-encoding.js';

/** How many leading bytes the sniffer needs (file-type reads at most 4100 for its signatures). */
export const SNIFF_BYTES = 4100;

/**
 * The kinds of file a memory can be, by the MIME type sniffed from the bytes. Anything else —
 * SVG, HTML, scripts, executables, archives — is refused: the chest is for memories, and every
 * stored file may one day be opened in a browser.
 */
const ALLOWED: Readonly<Record<string, FileType>> = {
  'image/jpeg': FileType.IMAGE,
  'image/png': FileType.IMAGE,
  'image/gif': FileType.IMAGE,
  'image/webp': FileType.IMAGE,
  'image/heic': FileType.IMAGE,
  'image/heif': FileType.IMAGE,
  'image/avif': FileType.IMAGE,
  'image/tiff': FileType.IMAGE,
  'video/mp4': FileType.VIDEO,
  'video/quicktime': FileType.VIDEO,
  'video/webm': FileType.VIDEO,
  // file-type's names first; the x- forms are what clients often declare.
  'video/matroska': FileType.VIDEO,
  'video/x-matroska': FileType.VIDEO,
  'video/3gpp': FileType.VIDEO,
  'video/vnd.avi': FileType.VIDEO,
  'video/x-msvideo': FileType.VIDEO,
  'audio/mpeg': FileType.AUDIO,
  'audio/mp4': FileType.AUDIO,
  'audio/x-m4a': FileType.AUDIO,
  'audio/aac': FileType.AUDIO,
  'audio/wav': FileType.AUDIO,
  'audio/ogg': FileType.AUDIO,
  'audio/opus': FileType.AUDIO,
  'audio/flac': FileType.AUDIO,
  'audio/x-flac': FileType.AUDIO,
  'audio/amr': FileType.AUDIO,
  'application/pdf': FileType.DOCUMENT,
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': FileType.DOCUMENT,
};

/** Markup that makes a file dangerous if a browser ever sniffs it as a page (polyglots). */
const MARKUP = /<\s*(script|html|svg|iframe|object|embed)\b|<!doctype\s+html|<\?xml/i;

export interface Sniffed {
  fileType: FileType;
  /** The type the bytes show, which is what we store and serve. */
  mimeType: string;
}

/**
 * Decides what a file is from its first bytes. The client's declared type is only a claim: it
 * must not contradict the bytes (a "photo" that is a PDF is refused), and plain text is accepted
 * only when declared as such, valid UTF-8 and free of markup.
 */
export async function sniffFile(head: Uint8Array, declaredMime: string): Promise<Sniffed> {
  const declared = declaredMime.toLowerCase().split(';')[0]!.trim();
  if (MARKUP.test(Buffer.from(head).toString('latin1'))) {
    throw unsupported('The file contains web markup (HTML, SVG or script) and cannot be kept');
  }
  refuseWideText(head);
  // Hostile or truncated containers can make the parser throw; that is a refusal, not our failure.
  const found = await fileTypeFromBuffer(head).catch(() => {
    throw unsupported('The file is damaged or not a kind of file we keep');
  });
  if (!found) return plainText(head, declared);
  // Parameters are not part of the kind: Opus sniffs as "audio/ogg; codecs=opus".
  const kind = ALLOWED[found.mime.split(';')[0]!.trim()];
  if (!kind) throw unsupported(`Files of type ${found.mime} cannot be kept: send photos, videos, audio or documents`);
  if (declared === '' || declared === 'application/octet-stream') return { fileType: kind, mimeType: found.mime };
  const declaredFamily = declared.split('/')[0]!;
  const foundFamily = found.mime.split('/')[0]!;
  // Audio and video share containers (an .m4a voice memo is MP4): either claim fits either bytes.
  const media = (f: string) => f === 'audio' || f === 'video';
  if (declaredFamily !== foundFamily && !(media(declaredFamily) && media(foundFamily)) && ALLOWED[declared] !== kind) {
    throw unsupported(`The file was declared as ${declared} but its bytes are ${found.mime}`);
  }
  const mediaKind = declaredFamily === 'audio' ? FileType.AUDIO : declaredFamily === 'video' ? FileType.VIDEO : kind;
  return { fileType: media(foundFamily) ? mediaKind : kind, mimeType: found.mime };
}

/**
 * Text in UTF-16 or UTF-32 is refused before the magic-number sniffer sees it, which would read a
 * UTF-16LE mark as an MP3 frame: as markup (in any encoding a browser may honour) it is a page, and
 * as plain text it would be stored and served as UTF-8 (download.ts) and read as mojibake, so the
 * person is asked for UTF-8 instead. A mark followed by no real text (an MPEG-1 Layer I frame
 * begins FF FE) is left to the sniffer.
 */
function refuseWideText(head: Uint8Array): void {
  const wide = wideText(head);
  if (!wide) return;
  if (MARKUP.test(wide.text)) throw unsupported('The file contains web markup (HTML, SVG or XML) and cannot be kept');
  if (wide.marked && !mostlyText(wide.text)) return;
  throw unsupported(`A text file must be UTF-8 text: this one is ${wide.encoding.toUpperCase()}; save it as UTF-8 and send it again`);
}

/**
 * Whether decoded characters read as text: random bytes (audio frames) decoded as UTF-16 give about
 * 3 % broken surrogates (U+FFFD) and 10 % private-use characters, real text in any script almost none.
 */
function mostlyText(text: string): boolean {
  const chars = [...text];
  if (chars.length === 0) return true;
  const bad = chars.filter((c) => /[\ufffd\ue000-\uf8ff\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(c)).length;
  return bad / chars.length <= 0.02;
}

function plainText(head: Uint8Array, declared: string): Sniffed {
  if (declared !== 'text/plain') throw unsupported('The file type could not be recognised from its bytes');
  // A cut at the sniff window may split a character: drop an incomplete tail before decoding.
  const text = new TextDecoder('utf-8', { fatal: false }).decode(head);
  if (text.includes('\u0000') || text.slice(0, -4).includes('\ufffd')) throw unsupported('A text file must be UTF-8 text');
  return { fileType: FileType.DOCUMENT, mimeType: 'text/plain' };
}

const unsupported = (message: string) => new AppError(ErrorCode.UNSUPPORTED_FILE_TYPE, message, 'file');

const CONTROL_OR_BIDI = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\u061c\ufeff]/g;

/**
 * A client's file name, made safe to keep and show: NFC, no control, bidi-override or zero-width
 * characters (which can disguise "photo\u202Egpj.exe"), no path separators or leading dots, at most
 * 255 bytes of UTF-8 with the extension kept. It is metadata only: storage keys are generated.
 */
export function sanitizeFilename(name: string): string {
  let clean = name
    .normalize('NFC')
    .replace(CONTROL_OR_BIDI, '')
    .replace(/[/\\:*?"<>|]/g, '_')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '');
  if (!clean) clean = 'untitled';
  const dot = clean.lastIndexOf('.');
  const ext = dot > 0 && clean.length - dot <= 16 ? clean.slice(dot) : '';
  const stem = ext ? clean.slice(0, dot) : clean;
  return truncateUtf8(stem, 255 - Buffer.byteLength(ext)) + ext;
}

function truncateUtf8(s: string, maxBytes: number): string {
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}
