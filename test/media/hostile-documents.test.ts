import { writeFile } from 'node:fs/promises';
import { Document, Packer, Paragraph } from 'docx';
import JSZip from 'jszip';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCX_MIME, processDocument } from '../../src/media/document.pipeline.js';
import { MediaError, type PipelineInput } from '../../src/media/pipeline.types.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from '../../src/media/sandbox/limits.js';
import { type ArchiveLimits, readZipDirectory } from '../../src/media/sandbox/zip-directory.js';
import { deeplyNestedDocx, emptyParagraphsDocx } from '../support/hostile-docx.js';
import { mediaDir, testContext, type MediaDir } from '../support/media-ffmpeg.js';

/**
 * Issue 11: a guest's 3,000,000-empty-paragraph DOCX took the embedded server to 4.5 GB and down,
 * again on every restart. Now its ZIP directory gives it away before anything is inflated, and
 * one that slips past those checks dies in the sandbox's heap, not in this process's.
 */
const THREE_MILLION = 3_000_000;
const MiB = 1024 * 1024;
/** Archive checks that let everything through, so the sandbox alone is tested. */
const OPEN_ARCHIVES: ArchiveLimits = { maxEntries: 1_000_000, maxUnpackedBytes: 1e12, maxRatio: 1e9, maxXmlBytes: 1e12, maxXmlDepth: 1e9, maxXmlElements: 1e12 };

let media: MediaDir;
let bomb: PipelineInput;
let count = 0;
async function upload(body: Buffer, filename = 'letter.docx'): Promise<PipelineInput> {
  const path = media.path(`hostile-${++count}`);
  await writeFile(path, body);
  return { path, mimeType: DOCX_MIME, filename };
}
const withLimits = (limits: Partial<ParseLimits>) => ({ ...testContext(), limits: { ...DEFAULT_PARSE_LIMITS, ...limits } });
const letter = async () => upload(await Packer.toBuffer(new Document({ sections: [{ children: [new Paragraph('Dear Rose,'), new Paragraph('The apple tree is in bloom.')] }] })));

beforeAll(async () => {
  media = await mediaDir();
  bomb = await upload(await emptyParagraphsDocx(THREE_MILLION), 'bomb.docx');
});
afterAll(() => media.remove());

describe('a DOCX built to exhaust the server', () => {
  it('is refused from its ZIP directory, with a reason for people, before anything is inflated', async () => {
    const before = process.memoryUsage().heapUsed;
    const run = processDocument(bomb, testContext());
    await expect(run).rejects.toBeInstanceOf(MediaError);
    await expect(run).rejects.toThrow(/"bomb.docx" is not read: one of its parts unpacks to \d+ times its size/);
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * MiB);
  });

  it('dies in the sandbox when it slips past the directory checks: a reason, and this process reads the next letter', async () => {
    const before = process.memoryUsage().heapUsed;
    const run = processDocument(bomb, withLimits({ archive: OPEN_ARCHIVES, sandbox: { memoryMb: 128, nativeMemoryMb: 1536, timeoutMs: 120_000 } }));
    await expect(run).rejects.toBeInstanceOf(MediaError);
    await expect(run).rejects.toThrow('"bomb.docx" is too large or complex to read: reading it needs more than the 128 MB of memory one document may use');
    // mammoth's tree of three million paragraphs lived and died in the thread's heap.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * MiB);
    const next = await processDocument(await letter(), withLimits({ sandbox: { memoryMb: 128, nativeMemoryMb: 1536, timeoutMs: 120_000 } }));
    expect(next.extractedText).toBe('Dear Rose,\n\nThe apple tree is in bloom.');
  });

  it('is refused as too complex when its XML nests deeper than the reader’s stack', async () => {
    const deep = await upload(await deeplyNestedDocx(200_000), 'deep.docx');
    // Its repetition would trip the ratio check first; opened, the thread's stack is what holds.
    await expect(processDocument(deep, withLimits({ archive: OPEN_ARCHIVES }))).rejects.toThrow('"deep.docx" is too large or complex to read: its parts are nested deeper than a reader can follow');
  });

  it('is stopped at the time limit when memory would allow it', async () => {
    const run = processDocument(bomb, withLimits({ archive: OPEN_ARCHIVES, sandbox: { memoryMb: 1024, nativeMemoryMb: 1536, timeoutMs: 1000 } }));
    await expect(run).rejects.toThrow('"bomb.docx" is too large or complex to read: reading it takes longer than the 1 second one document may take');
  });
});

describe('the ZIP directory checks', () => {
  it('read the entries and their declared sizes without inflating', async () => {
    const zip = new JSZip();
    zip.file('a.xml', 'x'.repeat(5000));
    zip.file('b.bin', Buffer.alloc(300));
    const path = media.path('dir.zip');
    await writeFile(path, await zip.generateAsync({ type: 'nodebuffer', compression: 'DEFLATE' }));
    const entries = await readZipDirectory(path);
    expect(entries).not.toBeNull();
    const byName = Object.fromEntries((entries as Array<{ name: string; uncompressedSize: number; compressedSize: number }>).map((e) => [e.name, e]));
    expect(byName['a.xml']).toMatchObject({ uncompressedSize: 5000 });
    expect(byName['a.xml']!.compressedSize).toBeLessThan(5000);
    expect(byName['b.bin']).toMatchObject({ uncompressedSize: 300 });
  });

  it('refuse too many parts, too much unpacked, and too large an XML part, each with its reason', async () => {
    const normal = await letter();
    const archive = DEFAULT_PARSE_LIMITS.archive;
    await expect(processDocument(normal, withLimits({ archive: { ...archive, maxEntries: 5 } }))).rejects.toThrow(/"letter.docx" is not read: it holds \d+ parts/);
    await expect(processDocument(normal, withLimits({ archive: { ...archive, maxUnpackedBytes: 10_000 } }))).rejects.toThrow(/"letter.docx" is not read: it would unpack to \d+ MB/);
    await expect(processDocument(bomb, withLimits({ archive: { ...OPEN_ARCHIVES, maxXmlBytes: 16 * MiB } }))).rejects.toThrow('"bomb.docx" is too large or complex to read: its text part is 17 MB');
    // The same letter under the defaults reads as ever.
    await expect(processDocument(normal, testContext())).resolves.toMatchObject({ extractedText: 'Dear Rose,\n\nThe apple tree is in bloom.' });
  });
});

/** The ZIP with the directory's uncompressed size of `name` rewritten to `size`: a directory that lies. */
function lyingAbout(zip: Buffer, name: string, size: number): Buffer {
  const out = Buffer.from(zip);
  for (let p = out.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); p >= 0; p = out.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]), p + 4)) {
    const nameLength = out.readUInt16LE(p + 28);
    if (out.toString('utf8', p + 46, p + 46 + nameLength) === name) out.writeUInt32LE(size, p + 24);
  }
  return out;
}

describe('the XML of a DOCX, counted as a stream before mammoth reads it', () => {
  it('refuses nesting deeper than ARCHIVE_MAX_XML_DEPTH with its reason, though the thread could have read it', async () => {
    // 300 nested content controls: small enough for every directory check, and for mammoth's stack.
    const deep = await upload(await deeplyNestedDocx(300), 'nested.docx');
    await expect(processDocument(deep, testContext())).rejects.toThrow('"nested.docx" is too large or complex to read: its parts are nested more than 256 levels deep, as files built to exhaust servers are');
    // Under a higher limit the same file is read: the count, not the reader, refused it.
    const allowed = await processDocument(deep, withLimits({ archive: { ...DEFAULT_PARSE_LIMITS.archive, maxXmlDepth: 1000 } }));
    expect(allowed.extractedText).toBe('deep');
  });

  it('refuses the 200,000-deep file by count, before the thread’s stack is reached', async () => {
    const deep = await upload(await deeplyNestedDocx(200_000), 'deeper.docx');
    await expect(processDocument(deep, withLimits({ archive: { ...OPEN_ARCHIVES, maxXmlDepth: 256 } }))).rejects.toThrow('its parts are nested more than 256 levels deep');
  });

  it('reads a document nested as deep as real ones are', async () => {
    const nested = await upload(await deeplyNestedDocx(100), 'normal.docx');
    await expect(processDocument(nested, testContext())).resolves.toMatchObject({ extractedText: 'deep' });
  });

  it('refuses a part of more than ARCHIVE_MAX_XML_ELEMENTS elements, and this process stays small', async () => {
    const before = process.memoryUsage().heapUsed;
    await expect(processDocument(bomb, withLimits({ archive: { ...OPEN_ARCHIVES, maxXmlElements: 1_000_000 } }))).rejects.toThrow(
      '"bomb.docx" is too large or complex to read: one of its parts holds more than 1000000 elements',
    );
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(64 * MiB);
  });

  it('stops inflating a part whose directory lies about its size at ARCHIVE_MAX_XML_MB', async () => {
    const liar = await upload(lyingAbout(await emptyParagraphsDocx(THREE_MILLION), 'word/document.xml', 1000), 'liar.docx');
    // The directory now passes every check (1000 bytes declared)…
    const archive = { ...DEFAULT_PARSE_LIMITS.archive, maxXmlBytes: 16 * MiB, maxXmlElements: 1e12 };
    // …and the stream is cut at 16 MB of the 18 it really holds.
    await expect(processDocument(liar, withLimits({ archive }))).rejects.toThrow('"liar.docx" is too large or complex to read: one of its parts unpacks to more than 16 MB');
  });
});
