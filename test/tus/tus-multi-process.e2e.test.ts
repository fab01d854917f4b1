import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/client.js';
import { jpeg } from '../support/media.js';
import { startTwoApis, type TwoApis } from '../support/two-apis.js';
import { startTus, tusTicket } from './tus-client.js';

/** A tus-js-client upload begun on one API process and finished by another client on a second one. */
describe('tus resume across two API processes', () => {
  let apis: TwoApis;
  let api1: string;
  let api2: string;

  beforeAll(async () => {
    apis = await startTwoApis();
    [api1, api2] = apis.urls;
  }, 240_000);

  afterAll(() => apis?.close());

  it('resumes on API #2 at the offset API #1 stored; the asset holds the bytes sent once', { timeout: 120_000 }, async () => {
    const client = apiClient(api1);
    const token = await client.signUp('tus-multi@example.com');
    const chestId = await client.createChest(token);
    const bytes = await jpeg(1200, 900, '#596');
    const chunkSize = Math.ceil(bytes.length / 4);
    const t = await tusTicket(api1, token, { chestId, filename: 'across.jpg', size: bytes.length, mimeType: 'image/jpeg' });

    const first = startTus({ url: t.url, headers: t.headers, bytes, chunkSize, onChunk: (run, accepted) => accepted >= chunkSize && void run.upload.abort() });
    await expect.poll(() => first.patchOffsets.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));

    // The same upload's URL on the other process: only the origin differs.
    const url2 = new URL(new URL(t.url).pathname, api2).href;
    const second = startTus({ url: url2, headers: t.headers, bytes, chunkSize });
    const last = await second.done;
    expect(second.patchOffsets[0]).toBe(chunkSize);
    const assetId = last.getHeader('Upload-Asset-Id')!;
    const d = await apiClient(api2).must(`query($id: ID!) { asset(id: $id) { id sha256 size } }`, { id: assetId }, token);
    expect(d.asset).toEqual({ id: assetId, sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length });
  });
});
