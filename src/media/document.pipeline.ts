import { open } from 'node:fs/promises';
import { MediaError, type PipelineContext, type PipelineInput, type PipelineResult } from './pipeline.types.js';
import type { DocumentRefusal, DocumentTask, DocumentText } from './sandbox/document.worker.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from './sandbox/limits.js';
import { judgeSandboxError, workerEntry } from './sandbox/sandbox.js';
import { runSandboxedStep } from './sandbox/sandboxed-step.js';
import { type ArchiveLimits, type ArchiveProblem, inspectArchive } from './sandbox/zip-directory.js';

/** Longer text is cut: a memory is not a library, and the AI reads only so much of it. */
export const MAX_TEXT_CHARS = 1_000_000;

export const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

type Extracted = DocumentText;

/** Reads the text of a PDF, Word (DOCX) or plain-text document. */
export async function processDocument(input: PipelineInput, ctx: PipelineContext): Promise<PipelineResult> {
  await ctx.report('extract', 0);
  ctx.signal?.throwIfAborted();
  const extracted = await extract(input, ctx);
  const { text, truncated } = normaliseText(extracted.text);
  await ctx.report('extract', 100);
  return {
    thumbnails: [],
    extractedText: text === '' ? null : text,
    needsOcr: extracted.scanned === true,
    metadata: { ...extracted.metadata, characters: text.length, truncated: truncated || extracted.cut === true },
  };
}

async function extract(input: PipelineInput, ctx: PipelineContext): Promise<Extracted> {
  switch (input.mimeType) {
    case 'application/pdf':
      return sandboxedText({ kind: 'pdf', path: input.path, maxChars: MAX_TEXT_CHARS }, input.filename, ctx);
    case DOCX_MIME:
      return docxText(input, ctx);
    case 'text/plain':
      return plainText(input.path);
    default:
      throw new MediaError(`Text cannot be read from "${input.filename}" (${input.mimeType})`);
  }
}

/**
 * Plain text is read up to the bytes the kept characters can take (4 per character in UTF-8, and
 * as many again for layout whitespace), never the whole of a file that is larger. Invalid
 * sequences become U+FFFD rather than failing: a stray byte should not lose the letter.
 */
async function plainText(path: string): Promise<Extracted> {
  const cap = MAX_TEXT_CHARS * 8;
  const file = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(Math.min((await file.stat()).size, cap + 1));
    const { bytesRead } = await file.read(buffer, 0, buffer.length, 0);
    const cut = bytesRead > cap;
    // A character cut in two at the cap becomes one U+FFFD at the end, which the cut text may lose.
    return { text: new TextDecoder('utf-8').decode(buffer.subarray(0, Math.min(bytesRead, cap))), metadata: {}, cut };
  } finally {
    await file.close();
  }
}

/** A DOCX is a ZIP: its directory is checked before anything is inflated, then mammoth reads it in the sandbox. */
async function docxText(input: PipelineInput, ctx: PipelineContext): Promise<Extracted> {
  const archive = (ctx.limits ?? DEFAULT_PARSE_LIMITS).archive;
  const problem = await inspectArchive(input.path, archive);
  if (problem) throw new MediaError(archiveMessage(input.filename, problem));
  const xml = { maxBytes: archive.maxXmlBytes, maxDepth: archive.maxXmlDepth, maxElements: archive.maxXmlElements };
  return sandboxedText({ kind: 'docx', path: input.path, maxChars: MAX_TEXT_CHARS, xml }, input.filename, ctx);
}

/**
 * Runs the reader in a sandbox process (media/sandbox): a file that makes it exceed its memory or
 * time ends that process only, and becomes a MediaError, so the memory fails at once with a reason
 * instead of being retried into the same crash.
 */
async function sandboxedText(task: DocumentTask, filename: string, ctx: PipelineContext): Promise<Extracted> {
  try {
    return await runSandboxedStep<DocumentText>({ entry: DOCUMENT_WORKER, data: task, stage: 'extract', ctx });
  } catch (err) {
    throw sandboxFailure(err, filename, ctx.limits ?? DEFAULT_PARSE_LIMITS);
  }
}

const DOCUMENT_WORKER = workerEntry(import.meta.url, './sandbox/document.worker');

const REFUSALS: Record<DocumentRefusal, (filename: string, limits: ArchiveLimits) => string> = {
  password: (f) => `"${f}" is protected by a password, so its text cannot be read`,
  'pdf-unreadable': (f) => `"${f}" could not be opened as a PDF: it may be damaged or incomplete`,
  'pdf-pages': (f) => `The pages of "${f}" could not be read: the PDF may be damaged`,
  'docx-unreadable': (f) => `"${f}" could not be opened as a Word document: it may be damaged`,
  'too-deep': (f) => `"${f}" is too large or complex to read: its parts are nested deeper than a reader can follow`,
  'xml-depth': (f, l) => `"${f}" is too large or complex to read: its parts are nested more than ${l.maxXmlDepth} levels deep, as files built to exhaust servers are`,
  'xml-elements': (f, l) => `"${f}" is too large or complex to read: one of its parts holds more than ${l.maxXmlElements} elements`,
  'xml-size': (f, l) => `"${f}" is too large or complex to read: one of its parts unpacks to more than ${Math.round(l.maxXmlBytes / 1048576)} MB`,
};

/** What people read when the sandbox ended a reader; anything that says nothing about the file stays transient. */
function sandboxFailure(err: unknown, filename: string, parseLimits: ParseLimits): unknown {
  const limits = parseLimits.sandbox;
  const final = (message: string) => new MediaError(message);
  return judgeSandboxError(err, {
    refused: (reason) => final((REFUSALS[reason as DocumentRefusal] ?? REFUSALS['pdf-unreadable'])(filename, parseLimits.archive)),
    memory: () => final(`"${filename}" is too large or complex to read: reading it needs more than the ${limits.memoryMb} MB of memory one document may use`),
    time: () => final(`"${filename}" is too large or complex to read: reading it takes longer than the ${seconds(limits.timeoutMs)} one document may take`),
    crashed: () => final(`"${filename}" could not be read: the reader stopped on it, and would again`),
  });
}

const seconds = (ms: number) => (ms === 1000 ? '1 second' : `${Math.round(ms / 100) / 10} seconds`);

function archiveMessage(filename: string, problem: ArchiveProblem): string {
  switch (problem.kind) {
    case 'unreadable':
      return `"${filename}" could not be opened as a Word document: it may be damaged`;
    case 'zip64':
      return `"${filename}" is packed in a form (ZIP64) that is not read here; saving it again from Word may help`;
    case 'entries':
      return `"${filename}" is not read: it holds ${problem.count} parts, more than a Word document has`;
    case 'unpacked':
      return `"${filename}" is not read: it would unpack to ${Math.round(problem.bytes / 1048576)} MB, more than a document may`;
    case 'ratio':
      return `"${filename}" is not read: one of its parts unpacks to ${problem.ratio} times its size, as files built to exhaust servers do`;
    case 'xml':
      return `"${filename}" is too large or complex to read: its text part is ${Math.round(problem.bytes / 1048576)} MB`;
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
