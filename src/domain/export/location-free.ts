import type { Readable } from 'node:stream';
import sharp from 'sharp';
import type { Asset } from '../../db/entities/index.js';
import { FileType } from '../../db/enums.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { extensionOf } from './archive-names.js';

/** What an export without locations holds in place of an original. */
export interface LocationFreeFile {
  extension: string;
  /** Opened only when the archive comes to it: never two originals read at once. */
  open(): Promise<Readable>;
}

/** Output formats sharp writes as the original was; anything else (HEIC, ...) becomes a JPEG. */
const SAME_FORMAT: Readonly<Record<string, keyof sharp.FormatEnum>> = {
  'image/jpeg': 'jpeg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'image/tiff': 'tiff',
  'image/avif': 'avif',
};

/**
 * The memory without anything that says where it was made, for an export with includeLocation
 * false, or null when there is no such copy (a recording or film processed before previews
 * existed: it is left out of the archive, and chest.json says so by not listing it).
 * Photos are written again by sharp, which keeps no EXIF, XMP or IPTC (so no GPS; turned upright
 * first, as the orientation tag goes too; colour profile kept). Recordings and films are their
 * re-encoded previews, the metadata-free copies non-members get. Documents go in as uploaded,
 * and they can hold a position: a photo pasted into a DOCX keeps its EXIF (GPS included), and a
 * PDF can carry XMP and pictures with theirs. docs/export.md says so.
 */
export function locationFreeCopy(asset: Asset, storage: StorageBackend): LocationFreeFile | null {
  switch (asset.fileType) {
    case FileType.IMAGE: {
      const format = SAME_FORMAT[asset.mimeType] ?? 'jpeg';
      const open = async () => {
        const source = await storage.get(asset.storageKey);
        const rewrite = sharp({ failOn: 'none', animated: format === 'gif' || format === 'webp', sequentialRead: true })
          .rotate()
          .keepIccProfile()
          .toFormat(format, format === 'jpeg' ? { quality: 95, chromaSubsampling: '4:4:4' } : format === 'png' ? {} : { quality: 95 });
        source.on('error', (err) => rewrite.destroy(err));
        return source.pipe(rewrite);
      };
      return { open, extension: format === 'jpeg' ? (SAME_FORMAT[asset.mimeType] ? extensionOf(asset) : 'jpg') : format === 'tiff' ? 'tif' : format };
    }
    case FileType.AUDIO:
    case FileType.VIDEO:
      if (!asset.preview) return null;
      const preview = asset.preview.storageKey;
      return { open: () => storage.get(preview), extension: asset.fileType === FileType.AUDIO ? 'm4a' : 'mp4' };
    case FileType.DOCUMENT:
      return { open: () => storage.get(asset.storageKey), extension: extensionOf(asset) };
  }
}
