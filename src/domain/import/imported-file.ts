import type { FileType } from '../../db/enums.js';
import { AppError } from '../errors.js';
import { sniffFile } from '../../media/file-policy.js';
import { neutralFilename } from '../asset/download.js';

/** What an imported memory is, from its bytes. */
export interface ImportedFileFacts {
  fileType: FileType;
  mimeType: string;
  /** The archive's name with the extension the bytes call for. */
  filename: string;
}

/** Spellings of one extension. */
const SAME_EXTENSION: Readonly<Record<string, string>> = { jpeg: 'jpg', jpe: 'jpg', tiff: 'tif' };

/**
 * The type of an archive's file as the upload would decide it, from its first bytes: an archive
 * without locations holds copies (a HEIC written as JPEG, a WAV's m4a preview, a MOV's mp4
 * preview) of which chest.json's mimeType and filename describe the original, and any archive may
 * claim what it likes. The type chest.json gives is kept only when it names the same kind of file
 * as the bytes (audio/mp4 for what sniffs as audio/x-m4a), so a round trip changes nothing.
 * Bytes that are no kind of file we keep, or that contradict the claim, answer null.
 */
export async function importedFileFacts(input: { head: Uint8Array; declaredMime: string; filename: string }): Promise<ImportedFileFacts | null> {
  let sniffed;
  try {
    sniffed = await sniffFile(input.head, input.declaredMime);
  } catch (err) {
    if (err instanceof AppError) return null;
    throw err;
  }
  const extension = (mimeType: string) => neutralFilename({ fileType: sniffed.fileType, mimeType }).split('.').pop()!;
  const wanted = extension(sniffed.mimeType);
  const mimeType = wanted !== 'bin' && extension(input.declaredMime) === wanted ? input.declaredMime : sniffed.mimeType;
  return { fileType: sniffed.fileType, mimeType, filename: withExtension(input.filename, wanted) };
}

/** `name` ending in `.extension` (its own spelling kept when it means the same: "IMG_1.JPEG" stays). */
function withExtension(name: string, extension: string): string {
  if (extension === 'bin') return name;
  const m = /\.([A-Za-z0-9]{1,5})$/.exec(name);
  const own = m?.[1]!.toLowerCase();
  if (own && (SAME_EXTENSION[own] ?? own) === extension) return name;
  const stem = m ? name.slice(0, -m[0].length) : name;
  return `${(stem || 'memory').slice(0, 250)}.${extension}`;
}
