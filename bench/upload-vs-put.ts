/**
 * The whole upload path (ticket, HTTP PATCH, 8 MiB staging parts, sniffing, SHA-256, the final
 * original, the asset row) against writing the same bytes straight into storage with one put —
 * the floor any upload path sits on. Same process, same disk; reports the ratio.
 */
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { startTestServer } from '../test/support/server.js';
import { makeAccount, makeChest } from '../test/support/factories.js';
import { wav } from '../test/support/media.js';

const SIZE_MIB = 64;
const RUNS = 5;

export async function run(): Promise<void> {
  const server = await startTestServer({ MAX_AUDIO_MB: String(SIZE_MIB * 2) });
  try {
    const em = server.db.orm.em.fork();
    const owner = await makeAccount(em);
    const chestId = (await makeChest(em, {}, owner.account)).id;
    const files = Array.from({ length: RUNS + 1 }, (_, i) => wav((SIZE_MIB * 1024 * 1024) / 2, (j) => (j * (i + 7)) & 0x7fff));

    let t0 = performance.now();
    for (let i = 0; i < RUNS; i++) await server.app.storage.put(`bench/raw/${Date.now()}-${i}`, Readable.from([files[i]!]));
    const rawMs = (performance.now() - t0) / RUNS;

    const uploadOnce = async (bytes: Buffer) => {
      const res = await fetch(`${server.app.url()}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${owner.token}` },
        body: JSON.stringify({
          query: `mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`,
          variables: { i: { chestId, filename: 'bench.wav', size: bytes.length, mimeType: 'audio/wav' } },
        }),
      });
      const t = ((await res.json()) as any).data.createUpload;
      const headers = Object.fromEntries(t.headers.map((h: any) => [h.name, h.value]));
      const done = await fetch(`${server.app.url()}${t.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: bytes });
      if (done.status !== 200) throw new Error(`upload failed: ${await done.text()}`);
    };
    await uploadOnce(files[RUNS]!); // warm-up
    t0 = performance.now();
    for (let i = 0; i < RUNS; i++) await uploadOnce(files[i]!);
    const uploadMs = (performance.now() - t0) / RUNS;

    const mibps = (ms: number) => ((SIZE_MIB * 1000) / ms).toFixed(0);
    console.log(`\nupload-vs-put: ${SIZE_MIB} MiB files, ${RUNS} runs, filesystem storage`);
    console.table({
      'storage.put (baseline)': { 'ms/file': rawMs.toFixed(0), 'MiB/s': mibps(rawMs), ratio: '1.00' },
      'HTTP upload (ticket → PATCH → asset)': { 'ms/file': uploadMs.toFixed(0), 'MiB/s': mibps(uploadMs), ratio: (uploadMs / rawMs).toFixed(2) },
    });
    console.log('The upload writes every byte twice (staging part, then original) and reads it once more to hash it.');
  } finally {
    await server.stop();
  }
}
