import { describe, expect, it } from 'vitest';
import { AppError } from '../../src/domain/errors.js';
import { SNIFF_BYTES, sniffFile } from '../../src/media/file-policy.js';
import { wideText } from '../../src/media/text-encoding.js';
import { wav } from '../support/media.js';

/** Text in a wide encoding, with or without its byte-order mark. */
function encode(text: string, encoding: 'utf-16le' | 'utf-16be' | 'utf-32le' | 'utf-32be', bom: boolean): Buffer {
  const chars = [...(bom ? `\ufeff${text}` : text)];
  if (encoding.startsWith('utf-16')) {
    const le = Buffer.from(chars.join(''), 'utf16le');
    return encoding === 'utf-16le' ? le : le.swap16();
  }
  const out = Buffer.alloc(chars.length * 4);
  chars.forEach((c, i) => (encoding === 'utf-32le' ? out.writeUInt32LE(c.codePointAt(0)!, i * 4) : out.writeUInt32BE(c.codePointAt(0)!, i * 4)));
  return out;
}

async function refusal(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected a refusal, got ${JSON.stringify(err)}`);
  return err;
}

const HTML = '<html><body><script>fetch("/graphql")</script></body></html>';
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><circle r="4"/></svg>';
const XML = '<?xml version="1.0" encoding="UTF-16"?><note>hi</note>';
const ENCODINGS = ['utf-16le', 'utf-16be', 'utf-32le', 'utf-32be'] as const;
const DECLARED = ['application/octet-stream', 'audio/mpeg', 'text/plain', ''];

describe('markup and text in UTF-16 and UTF-32', () => {
  it('the UTF-16LE page of the issue was taken for an MP3 frame: it is web markup', async () => {
    const page = encode(HTML, 'utf-16le', true);
    expect([page[0], page[1]]).toEqual([0xff, 0xfe]);
    const err = await refusal(sniffFile(page, 'application/octet-stream'));
    expect(err.code).toBe('UNSUPPORTED_FILE_TYPE');
    expect(err.message).toMatch(/markup/);
  });

  for (const encoding of ENCODINGS) {
    for (const bom of [true, false]) {
      it.each([
        ['HTML', HTML],
        ['SVG', SVG],
        ['XML', XML],
        ['HTML after blank lines', `\r\n\r\n   ${HTML}`],
      ])(`%s in ${encoding} ${bom ? 'with' : 'without'} a mark is UNSUPPORTED_FILE_TYPE, whatever it claims`, async (_name, markup) => {
        for (const declared of DECLARED) {
          const err = await refusal(sniffFile(encode(markup, encoding, bom), declared));
          expect(err.code).toBe('UNSUPPORTED_FILE_TYPE');
          expect(err.message).toMatch(/markup/);
        }
      });
    }

    it(`plain text in ${encoding} is refused with a request for UTF-8 (stored text is served as UTF-8)`, async () => {
      const chinese = await refusal(sniffFile(encode('亲爱的玫瑰，谢谢你寄来的惠特比照片。我们都很想念你。', encoding, true), 'text/plain'));
      expect(chinese.message).toContain(`this one is ${encoding.toUpperCase()}`);
      for (const bom of [true, false]) {
        const err = await refusal(sniffFile(encode('Dear Rose,\nthank you for the photos of Whitby.\n', encoding, bom), 'text/plain'));
        expect(err.code).toBe('UNSUPPORTED_FILE_TYPE');
        expect(err.message).toContain(`this one is ${encoding.toUpperCase()}`);
      }
    });
  }

  it('a page longer than the sniff window is judged by its head', async () => {
    const long = encode(HTML + ' '.repeat(10_000), 'utf-16be', false).subarray(0, SNIFF_BYTES);
    expect((await refusal(sniffFile(long, 'application/octet-stream'))).code).toBe('UNSUPPORTED_FILE_TYPE');
  });

  it('UTF-8 text and real audio are still kept', async () => {
    expect(await sniffFile(Buffer.from('\ufeffDear Rose,\nthank you — ☀️\n'), 'text/plain')).toEqual({ fileType: 'DOCUMENT', mimeType: 'text/plain' });
    // A WAV of silence is full of NUL bytes: not text.
    const silence = wav(4000, () => 0);
    expect(wideText(silence.subarray(0, SNIFF_BYTES))).toBeNull();
    expect(await sniffFile(silence.subarray(0, SNIFF_BYTES), 'application/octet-stream')).toEqual({ fileType: 'AUDIO', mimeType: 'audio/wav' });
  });

  it('an MPEG frame that begins like a UTF-16LE mark but holds no text is left to the sniffer', async () => {
    // FF FE then frame bytes: decoded as UTF-16LE it is mostly controls and unassigned characters.
    const frame = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(Array.from({ length: 200 }, (_, i) => (i * 37) % 256))]);
    expect(wideText(frame)?.marked).toBe(true);
    const verdict = await sniffFile(frame, 'application/octet-stream').then(
      (sniffed) => sniffed.mimeType,
      (err: AppError) => err.message,
    );
    expect(verdict).not.toMatch(/UTF-8 text|markup/);
  });
});
