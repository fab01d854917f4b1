import type { Client } from 'minio';

/** The S3 error code the minio client put on an error, if any. */
export function s3Code(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export function isNotFound(err: unknown): boolean {
  const code = s3Code(err);
  return code === 'NoSuchKey' || code === 'NotFound';
}

/**
 * Aborts a multipart upload, best effort: the error that made us abort is the one worth reporting,
 * and s3rver cannot abort (a bucket lifecycle rule collects what is left).
 */
export async function abortUpload(client: Client, bucket: string, key: string, uploadId: string): Promise<void> {
  // abortMultipartUpload puts the id into the query string as is.
  await client.abortMultipartUpload(bucket, key, encodeURIComponent(uploadId)).catch(() => undefined);
}
