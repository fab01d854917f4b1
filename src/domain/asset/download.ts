import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Asset } from '../../db/entities/index.js';
import type { Thumbnail } from '../../db/entities/asset.types.js';
import { FileType } from '../../db/enums.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { decide, type Maybe, mayHaveOriginal, mayHaveOriginalNow } from '../access/access.service.js';
import type { Actor } from '../actor.js';

/** Download links live five minutes: long enough to start, too short to pass around. */
export const DOWNLOAD_TTL_SECONDS = 300;

/** The derivative name under which a document's text is served (made from Asset.extractedText, not stored). */
export const TEXT_RENDITION = 'text';
const TEXT_MIME = 'text/plain; charset=utf-8';

/**
 * A short-lived link to an asset's original, for the chest's people, and for holders of a view
 * link whose owner allowed originals. Any original can say where and by whom it was made (GPS in
 * photos, videos and voice memos, EXIF in an MP3's cover art, authors in PDFs and Word files), so
 * everyone else gets the metadata-free derivatives instead (previewUrl, thumbnails).
 */
export async function originalUrl(actor: Actor, asset: Asset, storage: StorageBackend, secret: string): Promise<string | null> {
  if (!(await mayHaveOriginal(actor, asset.chest.id))) return null;
  const direct = await storage.presignedGetUrl(asset.storageKey, DOWNLOAD_TTL_SECONDS, { filename: asset.filename, contentType: asset.mimeType });
  if (direct) return direct;
  return signedPath(secret, asset.id);
}

/**
 * A short-lived link to the memory's metadata-free copy, for anyone who may read it: a photo's
 * largest thumbnail, a recording's or video's re-encoded preview, a document's text. Null while
 * processing has not made one (and for recordings and videos processed before previews existed).
 */
export async function previewUrl(asset: Asset, storage: StorageBackend, secret: string, thumbnails: readonly Thumbnail[] = asset.thumbnails): Promise<string | null> {
  const preview = previewOf(asset, thumbnails);
  if (!preview) return null;
  if (preview.storageKey === null) return signedPath(secret, `${asset.id}/${preview.name}`);
  return derivativeUrl(asset, { ...preview, storageKey: preview.storageKey }, storage, secret);
}

/** The preview's type (`image/webp`, `audio/mp4`, `video/mp4`, `text/plain; charset=utf-8`), when there is one. */
export function previewMimeType(asset: Asset, thumbnails: readonly Thumbnail[] = asset.thumbnails): string | null {
  return previewOf(asset, thumbnails)?.mimeType ?? null;
}

/**
 * A short-lived link to a thumbnail, poster or preview. Derivatives carry no metadata (no GPS),
 * so anyone who may read the asset gets them.
 */
export async function derivativeUrl(asset: Pick<Asset, 'id'>, thumbnail: Pick<Thumbnail, 'name' | 'storageKey' | 'mimeType'>, storage: StorageBackend, secret: string): Promise<string> {
  const direct = await storage.presignedGetUrl(thumbnail.storageKey, DOWNLOAD_TTL_SECONDS, { contentType: thumbnail.mimeType, filename: derivativeFilename(thumbnail) });
  if (direct) return direct;
  return signedPath(secret, `${asset.id}/${thumbnail.name}`);
}

/**
 * A link to a thumbnail of a memory in the bin, for the owners looking at the bin (no one else is
 * handed a binned memory). Signed as "bin/<asset>/<name>" and served by GET /files/bin/<asset>/<name>
 * only while the memory is in the bin, so a link made before it was binned (or for a reader) opens
 * nothing, and one made from the bin stops when the memory is restored or erased. Never a direct
 * storage link: the API decides every time.
 */
export function binnedDerivativeUrl(assetId: string, thumbnail: Pick<Thumbnail, 'name'>, secret: string): string {
  return signedPath(secret, `bin/${assetId}/${thumbnail.name}`);
}

/** What GET /files/<asset>/<name> serves: a stored derivative, or the document's text. */
export type ServedDerivative =
  /** `size` is known for previews (so players can seek with Range), not for thumbnails. */
  | { storageKey: string; mimeType: string; filename: string; size?: number }
  | { text: string; mimeType: string; filename: string };

export function findDerivative(asset: Asset, name: string): ServedDerivative | null {
  if (asset.preview?.name === name) return { ...asset.preview, filename: derivativeFilename(asset.preview) };
  // A photo's thumbnails, and their copies with hidden people blurred (domain/people/redaction.ts).
  const thumb = asset.thumbnails.find((t) => t.name === name) ?? asset.redaction?.thumbnails.find((t) => t.name === name);
  if (thumb) return { storageKey: thumb.storageKey, mimeType: thumb.mimeType, filename: derivativeFilename(thumb) };
  if (name === TEXT_RENDITION && asset.extractedText !== null) return { text: asset.extractedText, mimeType: TEXT_MIME, filename: 'document.txt' };
  return null;
}

/** The file name the caller sees: the real one for those who may have originals, else a neutral one ("recording.m4a"). */
export function visibleFilename(actor: Actor, asset: Asset): Maybe<string> {
  const chestId = asset.chest.id;
  return decide(mayHaveOriginalNow(actor, chestId), () => mayHaveOriginal(actor, chestId), (original) => (original ? asset.filename : neutralFilename(asset)));
}

/**
 * The technical facts the caller sees: all of them for those who may have the original; others
 * not the camera (EXIF Make and Model), which says what made the original as its metadata does.
 */
export function visibleMediaInfo(actor: Actor, asset: Asset): Maybe<Asset['mediaInfo']> {
  const info = asset.mediaInfo;
  if (!info) return info;
  const chestId = asset.chest.id;
  return decide(mayHaveOriginalNow(actor, chestId), () => mayHaveOriginal(actor, chestId), (original) => {
    if (original) return info;
    const { camera: _camera, ...facts } = info;
    return facts;
  });
}

/** A name that says only what the memory is: "photo.jpg", "video.mp4", "recording.m4a", "document.pdf". */
export function neutralFilename(asset: Pick<Asset, 'fileType' | 'mimeType'>): string {
  return `${KIND_NAME[asset.fileType]}.${EXTENSION[asset.mimeType.split(';')[0]!.trim()] ?? 'bin'}`;
}

/**
 * Checks a signed link: right signature, not expired. `resource` is what was signed: the asset id,
 * "<asset id>/<derivative name>", "bin/<asset id>/<name>" for /files, "export:<id>" for archives.
 */
export function verifyDownload(secret: string, resource: string, exp: string, sig: string): boolean {
  const e = Number(exp);
  if (!Number.isInteger(e) || e * 1000 < Date.now()) return false;
  const want = Buffer.from(sign(secret, resource, e));
  const got = Buffer.from(sig);
  return want.length === got.length && timingSafeEqual(want, got);
}

function previewOf(asset: Asset, thumbnails: readonly Thumbnail[]): { name: string; mimeType: string; storageKey: string | null } | null {
  switch (asset.fileType) {
    case FileType.IMAGE: {
      // The largest thumbnail: what a viewer opens full screen.
      const largest = [...thumbnails].sort((a, b) => b.width * b.height - a.width * a.height)[0];
      return largest ?? null;
    }
    case FileType.AUDIO:
    case FileType.VIDEO:
      return asset.preview;
    case FileType.DOCUMENT:
      return asset.extractedText !== null ? { name: TEXT_RENDITION, mimeType: TEXT_MIME, storageKey: null } : null;
  }
}

const derivativeFilename = (d: Pick<Thumbnail, 'name' | 'mimeType'>): string =>
  d.mimeType.startsWith('audio/') ? 'recording.m4a' : d.mimeType.startsWith('video/') ? 'video.mp4' : `${d.name.startsWith('poster') ? 'poster' : 'photo'}.webp`;

const KIND_NAME: Record<FileType, string> = {
  [FileType.IMAGE]: 'photo',
  [FileType.VIDEO]: 'video',
  [FileType.AUDIO]: 'recording',
  [FileType.DOCUMENT]: 'document',
};

/** Extensions for the types file-policy.ts accepts. */
const EXTENSION: Readonly<Record<string, string>> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/gif': 'gif',
  'image/webp': 'webp',
  'image/heic': 'heic',
  'image/heif': 'heif',
  'image/avif': 'avif',
  'image/tiff': 'tif',
  'video/mp4': 'mp4',
  'video/quicktime': 'mov',
  'video/webm': 'webm',
  'video/matroska': 'mkv',
  'video/x-matroska': 'mkv',
  'video/3gpp': '3gp',
  'video/vnd.avi': 'avi',
  'video/x-msvideo': 'avi',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/x-m4a': 'm4a',
  'audio/aac': 'aac',
  'audio/wav': 'wav',
  'audio/ogg': 'ogg',
  'audio/opus': 'opus',
  'audio/flac': 'flac',
  'audio/x-flac': 'flac',
  'audio/amr': 'amr',
  'application/pdf': 'pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'text/plain': 'txt',
};

/** A /files link to `resource` on the API itself (what the filesystem backend, which cannot presign, hands out). */
export function signedPath(secret: string, resource: string): string {
  return `/files/${resource}?${signedQuery({ secret, resource, ttlSeconds: DOWNLOAD_TTL_SECONDS })}`;
}

/** `exp=…&sig=…` of a link to `resource`, valid for ttlSeconds from `now` (ms); verifyDownload checks it. */
export function signedQuery(args: { secret: string; resource: string; ttlSeconds: number; now?: number }): string {
  const exp = Math.floor((args.now ?? Date.now()) / 1000) + args.ttlSeconds;
  return `exp=${exp}&sig=${sign(args.secret, args.resource, exp)}`;
}

const sign = (secret: string, resource: string, exp: number) => createHmac('sha256', secret).update(`${resource}.${exp}`).digest('base64url');
