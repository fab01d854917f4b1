/**
 * Recognises text in a wide encoding (UTF-16 or UTF-32, either byte order), by its byte-order mark
 * or, without one, by the NUL bytes that ASCII characters leave between them. Magic-number sniffers
 * read such text as binary: `FF FE` (the UTF-16LE mark) is also an MPEG audio frame sync, so an
 * HTML page saved as UTF-16 passes for an MP3 while a browser that honours the mark renders it.
 */
export type WideEncoding = 'utf-16le' | 'utf-16be' | 'utf-32le' | 'utf-32be';

const BOMS: readonly [WideEncoding, readonly number[]][] = [
  // UTF-32LE first: its mark begins with the UTF-16LE one.
  ['utf-32le', [0xff, 0xfe, 0x00, 0x00]],
  ['utf-32be', [0x00, 0x00, 0xfe, 0xff]],
  ['utf-16le', [0xff, 0xfe]],
  ['utf-16be', [0xfe, 0xff]],
];

const UNIT: Record<WideEncoding, number> = { 'utf-16le': 2, 'utf-16be': 2, 'utf-32le': 4, 'utf-32be': 4 };

/** Below this many characters a NUL pattern proves nothing (a binary header can look like anything). */
const MIN_UNITS = 8;
/** Share of code units that must be printable ASCII with zero high bytes, for text with no mark. */
const ASCII_SHARE = 0.9;
/** How much of the head the NUL-pattern test reads. */
const SAMPLE_BYTES = 1024;

export interface WideText {
  encoding: WideEncoding;
  /** Whether the encoding was declared by a byte-order mark (else inferred from NUL bytes). */
  marked: boolean;
  /** The head decoded (the mark dropped, a split last character replaced). */
  text: string;
}

/** The wide encoding the head is written in, with its text; null for anything else (UTF-8, binary). */
export function wideText(head: Uint8Array): WideText | null {
  const marked = BOMS.find(([, bom]) => bom.every((b, i) => head[i] === b));
  if (marked) {
    const [encoding, bom] = marked;
    return { encoding, marked: true, text: decode(head.subarray(bom.length), encoding) };
  }
  const sample = head.subarray(0, SAMPLE_BYTES);
  for (const encoding of ['utf-32le', 'utf-32be', 'utf-16le', 'utf-16be'] as const) {
    if (asciiShare(sample, encoding) >= ASCII_SHARE) return { encoding, marked: false, text: decode(head, encoding) };
  }
  return null;
}

/** The share of whole code units that are printable ASCII (or tab/CR/LF) with all other bytes zero. */
function asciiShare(bytes: Uint8Array, encoding: WideEncoding): number {
  const unit = UNIT[encoding];
  const units = Math.floor(bytes.length / unit);
  if (units < MIN_UNITS) return 0;
  const low = encoding.endsWith('le') ? 0 : unit - 1;
  let ascii = 0;
  for (let u = 0; u < units; u++) {
    let ok = true;
    for (let i = 0; i < unit && ok; i++) {
      const b = bytes[u * unit + i]!;
      ok = i === low ? b === 0x09 || b === 0x0a || b === 0x0d || (b >= 0x20 && b < 0x7f) : b === 0;
    }
    if (ok) ascii++;
  }
  return ascii / units;
}

function decode(bytes: Uint8Array, encoding: WideEncoding): string {
  if (encoding === 'utf-16le' || encoding === 'utf-16be') return new TextDecoder(encoding, { fatal: false }).decode(bytes);
  // TextDecoder has no UTF-32: read code points by hand; invalid ones become U+FFFD.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let out = '';
  for (let i = 0; i + 4 <= bytes.length; i += 4) {
    const cp = view.getUint32(i, encoding === 'utf-32le');
    out += cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff) ? String.fromCodePoint(cp) : '\ufffd';
  }
  return out;
}
