import { type HttpRequest, type HttpResponse, Upload } from 'tus-js-client';
import { apiClient } from '../support/client.js';

/** A ticket from the GraphQL API, in the shape tus-js-client takes (absolute URL, its headers). */
export async function tusTicket(baseUrl: string, token: string, input: Record<string, unknown>): Promise<{ id: string; url: string; headers: Record<string, string> }> {
  const d = await apiClient(baseUrl).must(
    `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } upload { id } } }`,
    { i: input },
    token,
  );
  const t = d.createUpload as { url: string; headers: { name: string; value: string }[]; upload: { id: string } };
  // Only the secret goes to tus-js-client: it sets Content-Type and Upload-Offset itself.
  const auth = t.headers.find((h) => h.name === 'Authorization')!;
  return { id: t.upload.id, url: new URL(t.url, baseUrl).href, headers: { Authorization: auth.value } };
}

export interface TusRun {
  upload: Upload;
  /** Settles with the last response on success, rejects with tus-js-client's error. */
  done: Promise<HttpResponse>;
  /** Upload-Offset of every PATCH this client sent, in order. */
  patchOffsets: number[];
}

/** Starts a real tus-js-client upload at an existing URL (no POST: the ticket created it). */
export function startTus({ url, headers, bytes, chunkSize, onChunk }: {
  url: string;
  headers: Record<string, string>;
  bytes: Buffer;
  /** Bytes per PATCH; tus-js-client's default (the whole rest in one PATCH) when not given. */
  chunkSize?: number;
  /** Called after each PATCH is answered, with this run (e.g. to abort it). */
  onChunk?: (run: TusRun, bytesAccepted: number) => void;
}): TusRun {
  const patchOffsets: number[] = [];
  let resolve!: (r: HttpResponse) => void;
  let reject!: (e: Error) => void;
  const done = new Promise<HttpResponse>((res, rej) => ((resolve = res), (reject = rej)));
  const run = { patchOffsets, done } as TusRun;
  run.upload = new Upload(bytes, {
    uploadUrl: url,
    headers,
    ...(chunkSize ? { chunkSize } : {}),
    retryDelays: null,
    storeFingerprintForResuming: false,
    onBeforeRequest: (req: HttpRequest) => {
      if (req.getMethod() === 'PATCH') patchOffsets.push(Number(req.getHeader('Upload-Offset')));
    },
    onChunkComplete: (_size, accepted) => onChunk?.(run, accepted),
    onSuccess: (payload) => resolve(payload.lastResponse),
    onError: (err) => reject(err),
  });
  run.upload.start();
  return run;
}
