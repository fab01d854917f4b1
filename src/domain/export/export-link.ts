import { signedQuery, verifyDownload } from '../asset/download.js';

/**
 * Download links of archives: long enough to start a large download, too short to pass around.
 * Signed like /files links, for "export:<id>" (file resources never hold a colon), so a link to a
 * file can never stand for an archive or the reverse.
 */
export const EXPORT_LINK_TTL_SECONDS = 900;

const resource = (exportId: string) => `export:${exportId}`;

/** GET /exports/<id>?exp&sig, valid for EXPORT_LINK_TTL_SECONDS from `now` (ms). */
export function exportLinkPath(secret: string, exportId: string, now = Date.now()): string {
  return `/exports/${exportId}?${signedQuery({ secret, resource: resource(exportId), ttlSeconds: EXPORT_LINK_TTL_SECONDS, now })}`;
}

export function verifyExportLink(secret: string, exportId: string, exp: string, sig: string): boolean {
  return verifyDownload(secret, resource(exportId), exp, sig);
}
