import { readFile } from 'node:fs/promises';
import mammoth from 'mammoth';
import { getDocumentProxy } from 'unpdf';
import { MediaError, type PipelineContext, type PipelineInput, type PipelineResult } from './pipeline.types.js';

/** Longer text is cut: a memory is not a library, and the AI reads only so much of it. */
export const MAX_TEXT_CHARS = 1_000_000;

export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

interface Extracted {
  text: string;
  metadata: Record<string, string | number | boolean | null>;
  /** Pages exist but carry no text layer: a scan. */
  scanned?: boolean;
}

/** Reads the text of a PDF, Word (DOCX) or plain-text document. */
export async function processDocument(input: PipelineInput, ctx: PipelineContext): Promise<PipelineResult> {
  await ctx.report('extract', 0);
  const bytes = await readFile(input.path);
  ctx.signal?.throwIfAborted();
  const extracted = await extract(bytes, input, ctx);
  const { text, truncated } = normaliseText(extracted.text);
  await ctx.report('extract', 100);
  return {
    thumbnails: [],
    extractedText: text === '' ? null : text,
    needsOcr: extracted.scanned === true,
    metadata: { ...extracted.metadata, characters: text.length, truncated },
  };
}

function extract(bytes: Buffer, input: PipelineInput, ctx: PipelineContext): Promise<Extracted> {
  switch (input.mimeType) {
    case 'application/pdf':
      return pdfText(bytes, input.filename, ctx);
    case DOCX_MIME:
      return docxText(bytes, input.filename);
    case 'text/plain':
      // Invalid sequences become U+FFFD rather than failing: a stray byte should not lose the letter.
      return Promise.resolve({ text: new TextDecoder('utf-8').decode(bytes), metadata: {} });
    default:
      return Promise.reject(new MediaError(`Text cannot be read from "${input.filename}" (${input.mimeType})`));
  }
}

async function pdfText(bytes: Buffer, filename: string, ctx: PipelineContext): Promise<Extracted> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    // pdf.js takes ownership of (detaches) the array it is given, so it gets a copy.
    pdf = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
  } catch (err) {
    if (err instanceof Error && err.name === 'PasswordException') {
      throw new MediaError(`"${filename}" is protected by a password, so its text cannot be read`);
    }
    throw new MediaError(`"${filename}" could not be opened as a PDF: it may be damaged or incomplete`);
  }
  try {
    // Page by page rather than unpdf's all-at-once extractText: a 10,000-page diary then reports
    // progress, stops when its job is told to (shutdown, lost lease), holds one page in memory,
    // and is not read past the text a memory keeps.
    const pages: string[] = [];
    let chars = 0;
    for (let n = 1; n <= pdf.numPages && chars <= MAX_TEXT_CHARS; n++) {
      ctx.signal?.throwIfAborted();
      const text = await pageText(pdf, n, filename);
      pages.push(text);
      chars += text.length;
      if (n < pdf.numPages) await ctx.report('extract', (n / pdf.numPages) * 100);
    }
    const joined = pages.join('\n\n');
    return { text: joined, metadata: { pageCount: pdf.numPages }, scanned: pdf.numPages > 0 && joined.trim() === '' };
  } finally {
    await pdf.loadingTask.destroy();
  }
}

/** One page's text, as unpdf joins it (an item's end of line becomes a line break). */
async function pageText(pdf: Awaited<ReturnType<typeof getDocumentProxy>>, n: number, filename: string): Promise<string> {
  try {
    const page = await pdf.getPage(n);
    const content = await page.getTextContent();
    page.cleanup();
    return content.items.map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : '')).join('');
  } catch {
    throw new MediaError(`The pages of "${filename}" could not be read: the PDF may be damaged`);
  }
}

async function docxText(bytes: Buffer, filename: string): Promise<Extracted> {
  try {
    const { value } = await mammoth.extractRawText({ buffer: bytes });
    return { text: value, metadata: {} };
  } catch {
    throw new MediaError(`"${filename}" could not be opened as a Word document: it may be damaged`);
  }
}

/**
 * Keeps paragraphs (blank lines) but nothing else of the layout: runs of spaces and tabs become
 * one space, lines are trimmed, and control characters go (Postgres refuses NUL in text).
 */
export function normaliseText(raw: string): { text: string; truncated: boolean } {
  let text = raw
    .replace(/\r\n?/g, '\n')
    .replace(/[\f\v\u2028\u2029]/g, '\n')
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u0008\u000e-\u001f\u007f]/g, '')
    .replace(/[^\S\n]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
  const truncated = text.length > MAX_TEXT_CHARS;
  if (truncated) {
    text = text.slice(0, MAX_TEXT_CHARS);
    // Never end on half of a surrogate pair (an emoji cut in two is not valid text).
    if (/[\ud800-\udbff]$/.test(text)) text = text.slice(0, -1);
  }
  return { text, truncated };
}
