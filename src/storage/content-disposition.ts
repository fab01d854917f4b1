/**
 * A Content-Disposition value for a download: `attachment; filename="<ASCII fallback>";
 * filename*=UTF-8''<RFC 5987>`. Used for S3 presigned URLs (response-content-disposition) and
 * by the API when it streams a filesystem object itself, so both give the same filename.
 * Filenames are user metadata: quotes, backslashes and control characters never reach the header.
 */
export function contentDisposition(filename: string, type: 'attachment' | 'inline' = 'attachment'): string {
  const clean =
    filename
      .replace(/[\u0000-\u001f\u007f]/g, '')
      // A lone surrogate would make encodeURIComponent throw.
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
      .trim() || 'download';
  const fallback = clean.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${type}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}
