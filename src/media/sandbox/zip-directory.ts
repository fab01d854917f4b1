import { open } from 'node:fs/promises';

/**
 * Checks a ZIP archive (DOCX and every other Office Open XML file is one) from its central
 * directory alone, before a single byte is inflated: how many entries, how much they claim to
 * unpack to, how tightly each is packed, and how large each XML part is. A bomb is refused with
 * a reason here; one that lies in its directory still meets the sandbox's heap limit.
 */

/** Limits on an archive (ARCHIVE_* in config.ts, docs/configuration.md "Variables"). */
export interface ArchiveLimits {
  maxEntries: number;
  /** Sum of the declared uncompressed sizes of all entries, bytes. */
  maxUnpackedBytes: number;
  /** Largest uncompressed / compressed size of one entry above RATIO_GRACE_BYTES. */
  maxRatio: number;
  /** Largest declared uncompressed size of one XML part (word/document.xml, ...), bytes; also what each really may inflate to (document.worker.ts). */
  maxXmlBytes: number;
  /** Deepest element nesting in one XML part, counted while it is inflated as a stream before mammoth reads it. */
  maxXmlDepth: number;
  /** Most elements in one XML part, counted the same way. */
  maxXmlElements: number;
}

const MiB = 1024 * 1024;

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxEntries: 10_000, maxUnpackedBytes: 1024 * MiB, maxRatio: 100, maxXmlBytes: 32 * MiB, maxXmlDepth: 256, maxXmlElements: 1_000_000 };

/** Small entries may pack a thousand to one (a run of zeros) without harm; the ratio counts above this. */
export const RATIO_GRACE_BYTES = MiB;

export interface ZipEntry {
  name: string;
  compressedSize: number;
  uncompressedSize: number;
}

/** Why an archive is refused; `unreadable` means no central directory was found (not a ZIP, or cut off). */
export type ArchiveProblem =
  | { kind: 'unreadable' }
  | { kind: 'zip64' }
  | { kind: 'entries'; count: number }
  | { kind: 'unpacked'; bytes: number }
  | { kind: 'ratio'; entry: string; ratio: number }
  | { kind: 'xml'; entry: string; bytes: number };

const EOCD_SIGNATURE = 0x06054b50;
const CENTRAL_SIGNATURE = 0x02014b50;
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;

/** Reads the central directory of the ZIP at `path` without inflating anything; null if there is none. */
export async function readZipDirectory(path: string): Promise<ZipEntry[] | 'zip64' | null> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const tailLength = Math.min(size, EOCD_SIZE + MAX_COMMENT);
    const tail = Buffer.alloc(tailLength);
    await file.read(tail, 0, tailLength, size - tailLength);
    const at = findEocd(tail);
    if (at < 0) return null;
    const count = tail.readUInt16LE(at + 10);
    const dirSize = tail.readUInt32LE(at + 12);
    const dirOffset = tail.readUInt32LE(at + 16);
    // ZIP64 moves these to another record; Word never needs it below 4 GiB, so it is not followed.
    if (count === 0xffff || dirSize === 0xffffffff || dirOffset === 0xffffffff) return 'zip64';
    if (dirOffset + dirSize > size - tailLength + at) return null;
    const dir = Buffer.alloc(dirSize);
    await file.read(dir, 0, dirSize, dirOffset);
    return parseDirectory(dir, count);
  } finally {
    await file.close();
  }
}

/** The last end-of-central-directory record whose comment length fits the tail. */
function findEocd(tail: Buffer): number {
  for (let i = tail.length - EOCD_SIZE; i >= 0; i--) {
    if (tail.readUInt32LE(i) === EOCD_SIGNATURE && i + EOCD_SIZE + tail.readUInt16LE(i + 20) <= tail.length) return i;
  }
  return -1;
}

function parseDirectory(dir: Buffer, count: number): ZipEntry[] | 'zip64' | null {
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let n = 0; n < count; n++) {
    if (p + 46 > dir.length || dir.readUInt32LE(p) !== CENTRAL_SIGNATURE) return null;
    const compressedSize = dir.readUInt32LE(p + 20);
    const uncompressedSize = dir.readUInt32LE(p + 24);
    if (compressedSize === 0xffffffff || uncompressedSize === 0xffffffff) return 'zip64';
    const nameLength = dir.readUInt16LE(p + 28);
    const next = p + 46 + nameLength + dir.readUInt16LE(p + 30) + dir.readUInt16LE(p + 32);
    if (next > dir.length) return null;
    entries.push({ name: dir.toString('utf8', p + 46, p + 46 + nameLength), compressedSize, uncompressedSize });
    p = next;
  }
  return entries;
}

/** The first limit the archive at `path` breaks, or null when it may be opened. */
export async function inspectArchive(path: string, limits: ArchiveLimits): Promise<ArchiveProblem | null> {
  const entries = await readZipDirectory(path);
  if (entries === null) return { kind: 'unreadable' };
  if (entries === 'zip64') return { kind: 'zip64' };
  return archiveProblem(entries, limits);
}

export function archiveProblem(entries: ZipEntry[], limits: ArchiveLimits): ArchiveProblem | null {
  if (entries.length > limits.maxEntries) return { kind: 'entries', count: entries.length };
  let unpacked = 0;
  for (const e of entries) {
    unpacked += e.uncompressedSize;
    if (/\.(xml|rels)$/i.test(e.name) && e.uncompressedSize > limits.maxXmlBytes) return { kind: 'xml', entry: e.name, bytes: e.uncompressedSize };
    const ratio = e.uncompressedSize / Math.max(1, e.compressedSize);
    if (e.uncompressedSize > RATIO_GRACE_BYTES && ratio > limits.maxRatio) return { kind: 'ratio', entry: e.name, ratio: Math.round(ratio) };
  }
  if (unpacked > limits.maxUnpackedBytes) return { kind: 'unpacked', bytes: unpacked };
  return null;
}
