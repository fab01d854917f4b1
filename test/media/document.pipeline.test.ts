import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { Document, HeadingLevel, Packer, Paragraph, TextRun } from 'docx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DOCX_MIME, MAX_TEXT_CHARS, normaliseText, processDocument } from '../../src/media/document.pipeline.js';
import { MediaError, type PipelineInput } from '../../src/media/pipeline.types.js';
import { buildPdf } from '../support/media.js';
import { mediaDir, testContext, type MediaDir } from '../support/media-ffmpeg.js';

const TREE = 'Grandma Rose planted the apple tree in 1962.';
const CHOIR = 'She sang in the village choir every Sunday.';

let media: MediaDir;
let count = 0;
/** Writes `body` to a fresh file and describes it as an upload of `mimeType`. */
async function upload(body: Buffer | string, mimeType: string, filename = 'letter'): Promise<PipelineInput> {
  const path = media.path(`doc-${++count}`);
  await writeFile(path, body);
  return { path, mimeType, filename };
}

beforeAll(async () => {
  media = await mediaDir();
});
afterAll(() => media.remove());

describe('processDocument: PDF', () => {
  it('reads the text of every page, in order, and counts the pages', async () => {
    const ctx = testContext();
    const result = await processDocument(await upload(buildPdf([[TREE, 'It still gives apples.'], [CHOIR]]), 'application/pdf'), ctx);
    const text = result.extractedText!;
    expect(text).toContain(TREE);
    expect(text).toContain('It still gives apples.');
    expect(text).toContain(CHOIR);
    expect(text.indexOf(TREE)).toBeLessThan(text.indexOf(CHOIR));
    expect(result.metadata).toMatchObject({ pageCount: 2, truncated: false });
    expect(result.needsOcr).toBe(false);
    // Progress after each page but the last; then done.
    expect(ctx.stages).toEqual([
      { stage: 'extract', percent: 0 },
      { stage: 'extract', percent: 50 },
      { stage: 'extract', percent: 100 },
    ]);
  });

  it('stops reading pages once its job is told to stop', async () => {
    const stop = new AbortController();
    const ctx = testContext();
    const pages = Array.from({ length: 40 }, (_, i) => [`Page ${i + 1}.`]);
    const seen: number[] = [];
    const run = processDocument(await upload(buildPdf(pages), 'application/pdf'), {
      ...ctx,
      signal: stop.signal,
      report: async (stage, percent) => {
        seen.push(percent);
        if (percent >= 25) stop.abort(new Error('worker stopping'));
      },
    });
    await expect(run).rejects.toThrow('worker stopping');
    // It stopped at the page after the abort, not at the end of the document.
    expect(Math.max(...seen)).toBeLessThan(50);
  });

  it('marks a scan (pages with only pictures) for OCR', async () => {
    const result = await processDocument(await upload(buildPdf(['scan', 'scan']), 'application/pdf'), testContext());
    expect(result.needsOcr).toBe(true);
    expect(result.extractedText).toBeNull();
    expect(result.metadata?.pageCount).toBe(2);
  });

  it('refuses a damaged PDF with a message for people', async () => {
    const garbage = Buffer.concat([Buffer.from('%PDF-1.7\n'), randomBytes(4096)]);
    const run = processDocument(await upload(garbage, 'application/pdf', 'will.pdf'), testContext());
    await expect(run).rejects.toBeInstanceOf(MediaError);
    await expect(run).rejects.toThrow(/"will.pdf" could not be opened as a PDF/);
  });
});

describe('processDocument: Word', () => {
  it('reads the paragraphs of a DOCX', async () => {
    const doc = new Document({
      sections: [
        {
          children: [
            new Paragraph({ text: 'Memories of Rose', heading: HeadingLevel.HEADING_1 }),
            new Paragraph({ children: [new TextRun(TREE), new TextRun({ text: '  Apples   every autumn.', bold: true })] }),
            new Paragraph(CHOIR),
          ],
        },
      ],
    });
    const result = await processDocument(await upload(await Packer.toBuffer(doc), DOCX_MIME), testContext());
    expect(result.extractedText).toBe(`Memories of Rose\n\n${TREE} Apples every autumn.\n\n${CHOIR}`);
    expect(result.needsOcr).toBe(false);
  });

  it('refuses random bytes and a cut-off upload', async () => {
    const whole = await Packer.toBuffer(new Document({ sections: [{ children: [new Paragraph(TREE)] }] }));
    const cut = whole.subarray(0, Math.floor(whole.length / 2)); // the ZIP directory is at the end
    await expect(processDocument(await upload(randomBytes(2048), DOCX_MIME), testContext())).rejects.toBeInstanceOf(MediaError);
    await expect(processDocument(await upload(cut, DOCX_MIME, 'notes.docx'), testContext())).rejects.toThrow(
      /"notes.docx" could not be opened as a Word document/,
    );
  });
});

describe('processDocument: plain text', () => {
  it('reads no more of a huge text file than the text it keeps needs', async () => {
    // 9 MB of letters: more than the 8 bytes per kept character read, so it is cut while read.
    const result = await processDocument(await upload('a'.repeat(9 * 1024 * 1024), 'text/plain'), testContext());
    expect(result.extractedText).toHaveLength(1_000_000);
    expect(result.metadata).toMatchObject({ truncated: true });
  });

  it('decodes UTF-8 and tidies the layout, keeping paragraphs', async () => {
    const raw = '\uFEFF  Dear Léa,\r\n\tthe  garden\u0000 is\u00a0in bloom. 🌸\r\n\r\n\r\n\r\nLove,   Rose  \n';
    const result = await processDocument(await upload(raw, 'text/plain'), testContext());
    expect(result.extractedText).toBe('Dear Léa,\nthe garden is in bloom. 🌸\n\nLove, Rose');
    expect(result.needsOcr).toBe(false);
  });

  it('gives no text for a file of only whitespace', async () => {
    const result = await processDocument(await upload(' \n\t\r\n ', 'text/plain'), testContext());
    expect(result.extractedText).toBeNull();
    expect(result.metadata?.characters).toBe(0);
  });

  it(`cuts text at ${MAX_TEXT_CHARS} characters`, async () => {
    const result = await processDocument(await upload('word '.repeat(250_000), 'text/plain'), testContext());
    expect(result.extractedText).toHaveLength(MAX_TEXT_CHARS);
    expect(result.metadata?.truncated).toBe(true);
  });

  it('never cuts an emoji in half', () => {
    const { text, truncated } = normaliseText(`${'a'.repeat(MAX_TEXT_CHARS - 1)}😀 more`);
    expect(truncated).toBe(true);
    expect(text).toBe('a'.repeat(MAX_TEXT_CHARS - 1));
  });

  it('refuses a type it cannot read with a MediaError', async () => {
    await expect(processDocument(await upload('x', 'application/zip', 'a.zip'), testContext())).rejects.toBeInstanceOf(MediaError);
  });
});
