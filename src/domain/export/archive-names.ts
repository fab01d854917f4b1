import type { Asset } from '../../db/entities/index.js';
import { FileType } from '../../db/enums.js';
import { neutralFilename } from '../asset/download.js';

/** How many characters of a caption or file name go into an entry's name. */
const TITLE_MAX = 60;

/** What a memory is called in an entry name when neither its caption nor its file name may be used. */
const KIND_WORD: Readonly<Record<Asset['fileType'], string>> = {
  [FileType.IMAGE]: 'photo',
  [FileType.AUDIO]: 'recording',
  [FileType.VIDEO]: 'film',
  [FileType.DOCUMENT]: 'document',
};

/**
 * Entry names inside the archive: readable ("memories/1987-06-12 Whitby beach.jpg", from the date
 * and the caption or file name; without locations the file name, which often names a street or
 * a person, is replaced by the kind: "memories/undated recording (2).m4a"), safe on every unzip tool (no separators, no control or reserved
 * characters, no leading dot, no "..") and unique (" (2)", " (3)" on a collision, compared without
 * case as Windows and macOS do).
 */
export class ArchiveNames {
  private readonly taken = new Set<string>();

  /**
   * A unique name under `folder` for the memory, with `extension` (without the dot); with
   * `useFilename` false a memory without a caption is named by its kind, never its file name.
   */
  memory(folder: string, asset: Pick<Asset, 'dateTaken' | 'caption' | 'filename' | 'fileType' | 'mimeType'>, extension: string, useFilename = true): string {
    const date = asset.dateTaken ? asset.dateTaken.toISOString().slice(0, 10) : 'undated';
    const title = safeSegment(asset.caption ?? (useFilename ? stem(asset.filename) : '')).slice(0, TITLE_MAX).trim() || (useFilename ? '' : KIND_WORD[asset.fileType]);
    return this.unique(folder, title ? `${date} ${title}` : date, extension || (useFilename ? extensionOf(asset) : neutralExtension(asset)));
  }

  /** Reserves `folder/base.extension`, or the first free " (n)" variant of it. */
  unique(folder: string, base: string, extension: string): string {
    for (let n = 1; ; n++) {
      const name = `${folder}/${base}${n === 1 ? '' : ` (${n})`}${extension ? `.${extension}` : ''}`;
      if (!this.taken.has(name.toLowerCase())) {
        this.taken.add(name.toLowerCase());
        return name;
      }
    }
  }
}

/** The original's extension when it has a short plain one, else the one its type implies. */
export function extensionOf(asset: Pick<Asset, 'filename' | 'fileType' | 'mimeType'>): string {
  const m = /\.([A-Za-z0-9]{1,5})$/.exec(asset.filename);
  return m ? m[1]!.toLowerCase() : neutralFilename(asset).split('.').pop()!;
}

/** The extension the type implies, never read from the file name. */
const neutralExtension = (asset: Pick<Asset, 'filename' | 'fileType' | 'mimeType'>): string => neutralFilename(asset).split('.').pop()!;

const stem = (filename: string) => filename.replace(/\.[A-Za-z0-9]{1,5}$/, '');

/** One path segment anyone's filesystem accepts: reserved and control characters become spaces. */
export function safeSegment(text: string): string {
  return text
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f/\\:*?"<>|]/g, ' ')
    .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
    .replace(/\.{2,}/g, '.')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[.\s]+|[.\s]+$/g, '');
}
