/**
 * Reads string values at one path out of JSON that is still arriving (a streamed model answer),
 * so the narrative can be shown while the model writes. Tolerant on purpose: it never fails on
 * truncated input, it ignores anything outside the document, and the last string may be
 * unterminated (it is returned as far as it goes, without a half-received escape).
 *
 * A path names object keys, with '*' for any array element: ['paragraphs', '*', 'text'].
 */

type Frame = { kind: 'object'; key: string | null; awaitingKey: boolean } | { kind: 'array' };

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };

/** Incremental: feed chunks as they come; cost is linear in the total input. */
export class PartialJsonStrings {
  private readonly stack: Frame[] = [];
  private readonly done: string[] = [];
  private inString = false;
  /** The string being read is an object key. */
  private isKey = false;
  /** The string being read is a value at the wanted path. */
  private capturing = false;
  private buffer = '';
  private escaping = false;
  /** Hex digits of a \uXXXX escape being read, or null. */
  private unicode: string | null = null;

  constructor(private readonly path: readonly string[]) {}

  push(chunk: string): void {
    for (const c of chunk) {
      if (this.inString) this.readStringChar(c);
      else this.readStructureChar(c);
    }
  }

  /** Every complete value at the path so far, then the one being read (if any). */
  values(): string[] {
    if (!this.inString || !this.capturing) return [...this.done];
    // A lone high surrogate means the other half has not arrived yet.
    const code = this.buffer.charCodeAt(this.buffer.length - 1);
    const partial = code >= 0xd800 && code <= 0xdbff ? this.buffer.slice(0, -1) : this.buffer;
    return [...this.done, partial];
  }

  private readStructureChar(c: string): void {
    const top = this.stack[this.stack.length - 1];
    switch (c) {
      case '{':
        this.stack.push({ kind: 'object', key: null, awaitingKey: true });
        break;
      case '[':
        this.stack.push({ kind: 'array' });
        break;
      case '}':
      case ']':
        this.stack.pop();
        break;
      case ':':
        if (top?.kind === 'object') top.awaitingKey = false;
        break;
      case ',':
        if (top?.kind === 'object') {
          top.awaitingKey = true;
          top.key = null;
        }
        break;
      case '"':
        // Text before the document starts (a stray preface) is not JSON: skip it.
        if (!top) break;
        this.inString = true;
        this.isKey = top.kind === 'object' && top.awaitingKey;
        this.capturing = !this.isKey && this.atPath();
        this.buffer = '';
        break;
      default:
      // Numbers, literals and whitespace carry nothing we want.
    }
  }

  private readStringChar(c: string): void {
    if (this.unicode !== null) {
      this.unicode += c;
      if (this.unicode.length === 4) {
        const code = Number.parseInt(this.unicode, 16);
        this.append(Number.isNaN(code) ? this.unicode : String.fromCharCode(code));
        this.unicode = null;
      }
    } else if (this.escaping) {
      this.escaping = false;
      if (c === 'u') this.unicode = '';
      else this.append(SIMPLE_ESCAPES[c] ?? c);
    } else if (c === '\\') {
      this.escaping = true;
    } else if (c === '"') {
      this.endString();
    } else {
      this.append(c);
    }
  }

  private append(text: string): void {
    if (this.isKey || this.capturing) this.buffer += text;
  }

  private endString(): void {
    this.inString = false;
    const top = this.stack[this.stack.length - 1];
    if (this.isKey && top?.kind === 'object') top.key = this.buffer;
    else if (this.capturing) this.done.push(this.buffer);
    this.buffer = '';
  }

  private atPath(): boolean {
    if (this.stack.length !== this.path.length) return false;
    return this.stack.every((frame, i) => {
      const want = this.path[i];
      return frame.kind === 'array' ? want === '*' : frame.key === want;
    });
  }
}

/** One-shot form of PartialJsonStrings. */
export function partialJsonStrings(json: string, path: readonly string[]): string[] {
  const reader = new PartialJsonStrings(path);
  reader.push(json);
  return reader.values();
}
