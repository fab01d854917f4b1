/**
 * Worker-thread entry that reads the text of one PDF or DOCX inside the sandbox (sandbox.ts).
 * Runs as compiled JS under dist/ and as stripped TypeScript under tsx/vitest, so it holds only
 * erasable syntax and imports only packages (see workerEntry). Whatever it allocates dies with
 * the thread when the heap limit is reached.
 */
import { readFile } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import mammoth from 'mammoth';
import { getDocumentProxy } from 'unpdf';

export interface DocumentTask {
  kind: 'pdf' | 'docx';
  path: string;
  /** Stop reading pages once this much text is in hand. */
  maxChars: number;
}

export interface DocumentText {
  text: string;
  metadata: Record<string, string | number | boolean | null>;
  /** Pages exist but carry no text layer: a scan. */
  scanned?: boolean;
  /** The text was cut here, before it crossed to the API's heap (see RAW_CHARS_PER_KEPT). */
  cut?: boolean;
}

/**
 * Raw text is cut at this many times the characters kept: layout whitespace that normaliseText
 * folds away can be large, but a document's text never crosses to the API's heap unbounded.
 */
const RAW_CHARS_PER_KEPT = 4;

/** Refusal codes the pipeline turns into messages for people. */
export type DocumentRefusal = 'password' | 'pdf-unreadable' | 'pdf-pages' | 'docx-unreadable' | 'too-deep';

/** The thread's stack (4 MB, sandbox.ts) ran out: parts nested deeper than any real document. */
const tooDeep = (err: unknown) => err instanceof RangeError && /call stack/i.test(err.message);

class Refused extends Error {
  code: DocumentRefusal;
  constructor(code: DocumentRefusal) {
    super(code);
    this.code = code;
  }
}

const port = parentPort!;
// Imports are loaded: from here on, a death of this thread is the file's doing.
port.postMessage({ type: 'started' });
const progress = (percent: number) => port.postMessage({ type: 'progress', percent });

async function pdfText(bytes: Uint8Array, maxChars: number): Promise<DocumentText> {
  let pdf: Awaited<ReturnType<typeof getDocumentProxy>>;
  try {
    pdf = await getDocumentProxy(bytes, { verbosity: 0 });
  } catch (err) {
    throw new Refused(err instanceof Error && err.name === 'PasswordException' ? 'password' : 'pdf-unreadable');
  }
  try {
    // Page by page rather than unpdf's all-at-once extractText: a 10,000-page diary then reports
    // progress, holds one page in memory, and is not read past the text a memory keeps.
    const pages: string[] = [];
    let chars = 0;
    for (let n = 1; n <= pdf.numPages && chars <= maxChars; n++) {
      const text = await pageText(pdf, n);
      pages.push(text);
      chars += text.length;
      if (n < pdf.numPages) progress((n / pdf.numPages) * 100);
    }
    const joined = pages.join('\n\n');
    return { text: joined, metadata: { pageCount: pdf.numPages }, scanned: pdf.numPages > 0 && joined.trim() === '' };
  } finally {
    await pdf.loadingTask.destroy();
  }
}

/** One page's text, as unpdf joins it (an item's end of line becomes a line break). */
async function pageText(pdf: Awaited<ReturnType<typeof getDocumentProxy>>, n: number): Promise<string> {
  try {
    const page = await pdf.getPage(n);
    const content = await page.getTextContent();
    page.cleanup();
    return content.items.map((item) => ('str' in item ? item.str + (item.hasEOL ? '\n' : '') : '')).join('');
  } catch (err) {
    throw new Refused(tooDeep(err) ? 'too-deep' : 'pdf-pages');
  }
}

async function docxText(bytes: Buffer): Promise<DocumentText> {
  try {
    const { value } = await mammoth.extractRawText({ buffer: bytes });
    return { text: value, metadata: {} };
  } catch (err) {
    throw new Refused(tooDeep(err) ? 'too-deep' : 'docx-unreadable');
  }
}

async function run(task: DocumentTask): Promise<void> {
  const bytes = await readFile(task.path);
  try {
    // pdf.js takes ownership of (detaches) the array it is given, so it gets a copy.
    const value = task.kind === 'pdf' ? await pdfText(new Uint8Array(bytes), task.maxChars) : await docxText(bytes);
    const limit = task.maxChars * RAW_CHARS_PER_KEPT;
    if (value.text.length > limit) Object.assign(value, { text: value.text.slice(0, limit), cut: true });
    port.postMessage({ type: 'result', value });
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    port.postMessage({ type: 'refused', reason: err.code });
  }
}

await run(workerData as DocumentTask);
