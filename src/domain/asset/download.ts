import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Asset } from '../../db/entities/index.js';
import type { Thumbnail } from '../../db/entities/asset.types.js';
import { FileType } from '../../db/enums.js';
import type { StorageBackend } from '../../storage/storage.port.js';
import { maySeeLocation } from '../access/access.service.js';
import type { Actor } from '../actor.js';

/** Download links live five minutes: long enough to start, too short to pass around. */
export const DOWNLOAD_TTL_SECONDS = 300;

/**
 * A short-lived link to an asset's original, for someone who can already read the asset.
 * Photos and videos can carry the GPS position of a home in their metadata, so only the
 * chest's members get their originals; others will get re-encoded derivatives (worker).
 */
export async function originalUrl(actor: Actor, asset: Asset, storage: StorageBackend, secret: string): Promise<string | null> {
  const member = await maySeeLocation(actor, asset.chest.id);
  if (!member && (asset.fileType === FileType.IMAGE || asset.fileType === FileType.VIDEO)) return null;
  const direct = await storage.presignedGetUrl(asset.storageKey, DOWNLOAD_TTL_SECONDS, { filename: asset.filename, contentType: asset.mimeType });
  if (direct) return direct;
  const exp = Math.floor(Date.now() / 1000) + DOWNLOAD_TTL_SECONDS;
  return `/files/${asset.id}?exp=${exp}&sig=${sign(secret, asset.id, exp)}`;
}

/**
 * A short-lived link to a thumbnail or poster. Derivatives carry no metadata (no GPS), so anyone
 * who may read the asset gets them.
 */
export async function derivativeUrl(asset: Pick<Asset, 'id'>, thumbnail: Pick<Thumbnail, 'name' | 'storageKey' | 'mimeType'>, storage: StorageBackend, secret: string): Promise<string> {
  const direct = await storage.presignedGetUrl(thumbnail.storageKey, DOWNLOAD_TTL_SECONDS, { contentType: thumbnail.mimeType });
  if (direct) return direct;
  const exp = Math.floor(Date.now() / 1000) + DOWNLOAD_TTL_SECONDS;
  const resource = `${asset.id}/${thumbnail.name}`;
  return `/files/${resource}?exp=${exp}&sig=${sign(secret, resource, exp)}`;
}

/** Checks a /files link (`resource` is the asset id, or "<asset id>/<derivative name>"): right signature, not expired. */
export function verifyDownload(secret: string, resource: string, exp: string, sig: string): boolean {
  const e = Number(exp);
  if (!Number.isInteger(e) || e * 1000 < Date.now()) return false;
  const want = Buffer.from(sign(secret, resource, e));
  const got = Buffer.from(sig);
  return want.length === got.length && timingSafeEqual(want, got);
}

const sign = (secret: string, resource: string, exp: number) => createHmac('sha256', secret).update(`${resource}.${exp}`).digest('base64url');
