import type { HttpApp } from '../src/server.js';
import type { TestDatabase } from './support/db.js';
import { startTestServer, type TestServer } from './support/server.js';
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Asset } from '../src/db/entities/index.js';
import { makeAccount, makeChest } from './support/factories.js';
import { wav } from './support/media.js';

const GiB = 1024 * 1024 * 1024;

/**
 * Memory stays flat whatever the file size: 1 GiB through the real HTTP route, with the server's
 * resident memory sampled as it goes. Measured in bytes, never in seconds.
 */
describe('a 1 GiB upload', () => {
  let server: TestServer;
  let db: TestDatabase;
  let app: HttpApp;
  let token: string;
  let chestId: string;

  beforeAll(async () => {
    server = await startTestServer({ MAX_AUDIO_MB: '2048' });
    ({ db, app } = server);
    const em = db.orm.em.fork();
    const owner = await makeAccount(em);
    token = owner.token;
    chestId = (await makeChest(em, {}, owner.account)).id;
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('keeps the server RSS growth under 128 MiB and stores every byte', { timeout: 300_000 }, async () => {
    // A WAV header, then the same 1 MiB block again and again (made once, sent many times).
    const head = wav(0);
    const block = Buffer.alloc(1024 * 1024, 0x5a);
    const size = head.length + GiB;
    const res = await fetch(`${app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`,
        variables: { i: { chestId, filename: 'long-recording.wav', size, mimeType: 'audio/wav' } },
      }),
    });
    const t = ((await res.json()) as any).data.createUpload;
    const headers = Object.fromEntries(t.headers.map((h: any) => [h.name, h.value]));

    globalThis.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 50);
    const expected = createHash('sha256').update(head);
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(`${app.url()}${t.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0', 'Content-Length': String(size) } }, (r) => {
        let text = '';
        r.on('data', (d: Buffer) => (text += d.toString()));
        r.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write(head);
      let sent = 0;
      const pump = () => {
        while (sent < GiB) {
          sent += block.length;
          expected.update(block);
          if (!req.write(block)) return req.once('drain', pump);
        }
        req.end();
      };
      pump();
    });
    clearInterval(sampler);

    const result = JSON.parse(body);
    expect(result).toMatchObject({ status: 'COMPLETE', offset: size });
    const asset = await db.orm.em.fork().findOneOrFail(Asset, result.assetId);
    expect(asset).toMatchObject({ size, sha256: expected.digest('hex'), fileType: 'AUDIO' });
    const growthMiB = (peak - baseline) / (1024 * 1024);
    console.log(`RSS growth during a 1 GiB upload: ${growthMiB.toFixed(1)} MiB`);
    expect(growthMiB).toBeLessThan(128);
  });
});
