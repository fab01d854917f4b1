import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Download links of archives: long enough to start a large download, too short to pass around.
 * Signed for "export:<id>", so a link to a file can never stand for an archive or the reverse.
 */
export const EXPORT_LINK_TTL_SECONDS = 900;

/** GET /exports/<id>?exp&sig, valid for EXPORT_LINK_TTL_SECONDS from `now` (ms). */
export function exportLinkPath(secret: string, exportId: string, now = Date.now()): string {
  const exp = Math.floor(now / 1000) + EXPORT_LINK_TTL_SECONDS;
  return `/exports/${exportId}?exp=${exp}&sig=${sign(secret, exportId, exp)}`;
}

export function verifyExportLink(secret: string, exportId: string, exp: string, sig: string): boolean {
  const e = Number(exp);
  if (!Number.isInteger(e) || e * 1000 < Date.now()) return false;
  const want = Buffer.from(sign(secret, exportId, e));
  const got = Buffer.from(sig);
  return want.length === got.length && timingSafeEqual(want, got);
}

const sign = (secret: string, exportId: string, exp: number) => createHmac('sha256', secret).update(`export:${exportId}.${exp}`).digest('base64url');
