/**
 * Sandbox entry that reads the text of one PDF or DOCX (sandbox.ts).
 * Runs as compiled JS under dist/ and as stripped TypeScript under tsx/vitest, so it holds only
 * erasable syntax and imports only packages (see workerEntry). Whatever it allocates dies with
 * its process when a limit is reached.
 */
import { readFile } from 'node:fs/promises';
import { createInflateRaw } from 'node:zlib';
import mammoth from 'mammoth';
import { getDocumentProxy } from 'unpdf';

export interface DocumentTask {
  kind: 'pdf' | 'docx';
  path: string;
  /** Stop reading pages once this much text is in hand. */
  maxChars: number;
  /** DOCX only: its XML parts are counted against these before mammoth reads them (absent: not counted). */
  xml?: XmlLimits;
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
export type DocumentRefusal = 'password' | 'pdf-unreadable' | 'pdf-pages' | 'docx-unreadable' | 'too-deep' | 'xml-depth' | 'xml-elements' | 'xml-size';

/** The stack ran out: parts nested deeper than any real document. */
const tooDeep = (err: unknown) => err instanceof RangeError && /call stack/i.test(err.message);

class Refused extends Error {
  code: DocumentRefusal;
  constructor(code: DocumentRefusal) {
    super(code);
    this.code = code;
  }
}

/** The sandbox's progress channel, set by run(). */
let progress: (percent: number) => void = () => undefined;

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

async function docxText(bytes: Buffer, xml: XmlLimits | undefined): Promise<DocumentText> {
  // Depth and element count first, streaming: mammoth builds the whole tree, and only then would meet them.
  const problem = xml ? await checkDocxXml(bytes, xml) : null;
  if (problem) throw new Refused(problem);
  try {
    const { value } = await mammoth.extractRawText({ buffer: bytes });
    return { text: value, metadata: {} };
  } catch (err) {
    throw new Refused(tooDeep(err) ? 'too-deep' : 'docx-unreadable');
  }
}

export async function run(task: DocumentTask, report: (percent: number) => void) {
  progress = report;
  const bytes = await readFile(task.path);
  try {
    // pdf.js takes ownership of (detaches) the array it is given, so it gets a copy.
    const value = task.kind === 'pdf' ? await pdfText(new Uint8Array(bytes), task.maxChars) : await docxText(bytes, task.xml);
    const limit = task.maxChars * RAW_CHARS_PER_KEPT;
    if (value.text.length > limit) Object.assign(value, { text: value.text.slice(0, limit), cut: true });
    return { type: 'result' as const, value };
  } catch (err) {
    if (!(err instanceof Refused)) throw err;
    return { type: 'refused' as const, reason: err.code };
  }
}

// ---- The XML parts of a DOCX, counted before mammoth sees them ------------------------------

/** How far the XML of a DOCX may go (ArchiveLimits in zip-directory.ts; ARCHIVE_MAX_XML_*). */
export interface XmlLimits {
  /** Bytes one part may really unpack to: its directory may lie. */
  maxBytes: number;
  /** Deepest element nesting. */
  maxDepth: number;
  /** Most elements in one part. */
  maxElements: number;
}

/** Bytes of compressed input handed to the inflater at a time. */
const INFLATE_CHUNK = 64 * 1024;

/**
 * Counts element nesting depth and elements in a stream of XML, byte by byte, without building
 * anything: start tags deepen, end tags and `/>` come back up; comments, CDATA, processing
 * instructions, declarations and quoted attribute values are skipped. Stops with the first limit
 * the XML breaks. Malformed XML is not its concern (mammoth says so afterwards).
 */
class XmlCounter {
  depth = 0;
  elements = 0;
  /** text | lt: just read '<' | tag: in a start tag | end: in an end tag | skip: until `until` */
  private state: 'text' | 'lt' | 'tag' | 'end' | 'skip' | 'bang' = 'text';
  private quote = 0;
  private prev = 0;
  private until = '';
  private tail = '';
  private bang = '';

  private readonly limits: XmlLimits;

  constructor(limits: XmlLimits) {
    this.limits = limits;
  }

  /** The first limit broken so far, or null. */
  feed(chunk: Uint8Array): 'xml-depth' | 'xml-elements' | null {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      switch (this.state) {
        case 'text':
          if (c === 0x3c) this.state = 'lt';
          break;
        case 'lt':
          if (c === 0x2f) this.state = 'end';
          else if (c === 0x3f) this.skipUntil('?>');
          else if (c === 0x21) {
            this.state = 'bang';
            this.bang = '';
          } else {
            this.state = 'tag';
            this.quote = 0;
            this.depth++;
            this.elements++;
            if (this.depth > this.limits.maxDepth) return 'xml-depth';
            if (this.elements > this.limits.maxElements) return 'xml-elements';
          }
          break;
        case 'tag':
          if (this.quote) {
            if (c === this.quote) this.quote = 0;
          } else if (c === 0x22 || c === 0x27) this.quote = c;
          else if (c === 0x3e) {
            if (this.prev === 0x2f) this.depth--; // <x/>
            this.state = 'text';
          }
          break;
        case 'end':
          if (c === 0x3e) {
            this.depth--;
            this.state = 'text';
          }
          break;
        case 'bang':
          // `<!--` comment, `<![CDATA[` section, or a declaration (`<!DOCTYPE …>`) ending at '>'.
          this.bang += String.fromCharCode(c);
          if (this.bang === '--') this.skipUntil('-->');
          else if (this.bang === '[CDATA[') this.skipUntil(']]>');
          else if (!'--'.startsWith(this.bang) && !'[CDATA['.startsWith(this.bang)) this.skipUntil('>');
          break;
        case 'skip':
          this.tail = (this.tail + String.fromCharCode(c)).slice(-this.until.length);
          if (this.tail === this.until) this.state = 'text';
          break;
      }
      this.prev = c;
    }
    return null;
  }

  private skipUntil(until: string): void {
    this.state = 'skip';
    this.until = until;
    this.tail = '';
  }
}

interface ZipPart {
  name: string;
  method: number;
  compressedSize: number;
  localOffset: number;
}

/** The XML parts named in the archive's central directory (checked already by zip-directory.ts); null if it has none. */
function xmlParts(zip: Buffer): ZipPart[] | null {
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) return null;
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  const parts: ZipPart[] = [];
  for (let n = 0; n < count; n++) {
    if (p + 46 > zip.length || zip.readUInt32LE(p) !== 0x02014b50) return null;
    const nameLength = zip.readUInt16LE(p + 28);
    const name = zip.toString('utf8', p + 46, p + 46 + nameLength);
    if (/\.(xml|rels)$/i.test(name)) parts.push({ name, method: zip.readUInt16LE(p + 10), compressedSize: zip.readUInt32LE(p + 20), localOffset: zip.readUInt32LE(p + 42) });
    p += 46 + nameLength + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  return parts;
}

/**
 * Every XML part of the DOCX inflated as a stream, at most maxBytes each, and counted: the first
 * limit one breaks, 'docx-unreadable' for a part that cannot be inflated, or null. Only the
 * counter's few numbers are kept; what is inflated is dropped chunk by chunk.
 */
async function checkDocxXml(zip: Buffer, limits: XmlLimits): Promise<DocumentRefusal | null> {
  const parts = xmlParts(zip);
  if (!parts) return 'docx-unreadable';
  for (const part of parts) {
    const at = part.localOffset;
    if (at + 30 > zip.length || zip.readUInt32LE(at) !== 0x04034b50) return 'docx-unreadable';
    const start = at + 30 + zip.readUInt16LE(at + 26) + zip.readUInt16LE(at + 28);
    const data = zip.subarray(start, start + part.compressedSize);
    const problem = await countPart(data, part.method, limits);
    if (problem) return problem;
  }
  return null;
}

function countPart(data: Buffer, method: number, limits: XmlLimits): Promise<DocumentRefusal | null> {
  const counter = new XmlCounter(limits);
  if (method === 0) {
    if (data.length > limits.maxBytes) return Promise.resolve('xml-size');
    return Promise.resolve(counter.feed(data));
  }
  if (method !== 8) return Promise.resolve('docx-unreadable');
  return new Promise((resolve) => {
    const inflate = createInflateRaw();
    let bytes = 0;
    let done = false;
    const finish = (outcome: DocumentRefusal | null) => {
      if (done) return;
      done = true;
      inflate.destroy();
      resolve(outcome);
    };
    inflate.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > limits.maxBytes) return finish('xml-size');
      const problem = counter.feed(chunk);
      if (problem) finish(problem);
    });
    inflate.on('error', () => finish('docx-unreadable'));
    inflate.on('end', () => finish(null));
    // Fed in chunks, honouring back-pressure: what is inflated never piles up.
    let offset = 0;
    const pump = () => {
      while (!done && offset < data.length) {
        const chunk = data.subarray(offset, offset + INFLATE_CHUNK);
        offset += chunk.length;
        if (!inflate.write(chunk)) return void inflate.once('drain', pump);
      }
      if (!done) inflate.end();
    };
    pump();
  });
}

