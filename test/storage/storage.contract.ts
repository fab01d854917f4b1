import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPartWriter } from '../../src/storage/part-writer.js';
import {
  InvalidKeyError,
  ObjectExistsError,
  ObjectNotFoundError,
  SizeMismatchError,
  type StorageBackend,
} from '../../src/storage/storage.port.js';

const MiB = 1024 * 1024;

/** What every backend must do. Each test works under its own random prefix, so they share one storage. */
export function storageContract(name: string, make: () => Promise<{ storage: StorageBackend; cleanup(): Promise<void> }>): void {
  describe(`storage contract: ${name}`, () => {
    let storage: StorageBackend;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      ({ storage, cleanup } = await make());
    });
    afterAll(async () => {
      await cleanup?.();
    });

    const newKey = (suffix = 'obj') => `chests/${randomUUID()}/originals/${suffix}`;

    it('round-trips bytes and reports their size', async () => {
      const key = newKey();
      const bytes = randomBytes(1000);
      await expect(storage.put(key, Readable.from([bytes]), { contentType: 'image/png' })).resolves.toEqual({ size: 1000 });
      expect(await readAll(await storage.get(key))).toEqual(bytes);
      const info = await storage.stat(key);
      expect(info).toMatchObject({ key, size: 1000 });
      expect(info?.lastModified).toBeInstanceOf(Date);
      if (storage.kind === 's3') expect(info?.contentType).toBe('image/png');
    });

    it('round-trips an empty object', async () => {
      const key = newKey();
      await expect(storage.put(key, Readable.from([]))).resolves.toEqual({ size: 0 });
      expect((await readAll(await storage.get(key))).length).toBe(0);
      expect((await storage.stat(key))?.size).toBe(0);
    });

    it('accepts many small chunks and old-style streams', async () => {
      const key = newKey();
      const chunks = Array.from({ length: 300 }, (_, i) => Buffer.from(`chunk ${i};`));
      const legacy = new Readable({ read() {} });
      for (const chunk of chunks) legacy.push(chunk);
      legacy.push(null);
      const asOldStream: NodeJS.ReadableStream = legacy;
      await storage.put(key, asOldStream);
      expect(await readAll(await storage.get(key))).toEqual(Buffer.concat(chunks));
    });

    it('streams 20 MiB generated on the fly, checked by SHA-256', async () => {
      const key = newKey('big');
      const size = 20 * MiB;
      const sent = createHash('sha256');
      const source = Readable.from(generateBytes(size, 256 * 1024, sent));
      await expect(storage.put(key, source, { size })).resolves.toEqual({ size });
      const received = createHash('sha256');
      let receivedBytes = 0;
      for await (const chunk of await storage.get(key)) {
        received.update(chunk as Buffer);
        receivedBytes += (chunk as Buffer).length;
      }
      expect(receivedBytes).toBe(size);
      expect(received.digest('hex')).toBe(sent.digest('hex'));
      expect((await storage.stat(key))?.size).toBe(size);
    });

    it('reads byte ranges: first byte, a middle slice, to the end, and an end past the object', async () => {
      const key = newKey();
      const bytes = randomBytes(1000);
      await storage.put(key, Readable.from([bytes]));
      expect(await readAll(await storage.get(key, { start: 0, end: 0 }))).toEqual(bytes.subarray(0, 1));
      expect(await readAll(await storage.get(key, { start: 100, end: 199 }))).toEqual(bytes.subarray(100, 200));
      expect(await readAll(await storage.get(key, { start: 900 }))).toEqual(bytes.subarray(900));
      expect(await readAll(await storage.get(key, { start: 999 }))).toEqual(bytes.subarray(999));
      expect(await readAll(await storage.get(key, { start: 990, end: 5000 }))).toEqual(bytes.subarray(990));
      expect(await readAll(await storage.get(key, { start: 0 }))).toEqual(bytes);
    });

    it('rejects ranges that start past the end or are malformed with RangeError', async () => {
      const key = newKey();
      await storage.put(key, Readable.from([randomBytes(10)]));
      await expect(storage.get(key, { start: 10 })).rejects.toBeInstanceOf(RangeError);
      await expect(storage.get(key, { start: 50, end: 60 })).rejects.toBeInstanceOf(RangeError);
      await expect(storage.get(key, { start: 5, end: 4 })).rejects.toBeInstanceOf(RangeError);
      await expect(storage.get(key, { start: -1 })).rejects.toBeInstanceOf(RangeError);
    });

    it('never overwrites: a put on an existing key rejects and leaves the original bytes', async () => {
      const key = newKey();
      const original = randomBytes(64);
      await storage.put(key, Readable.from([original]));
      const second = untouchedBody();
      await expect(storage.put(key, second.stream)).rejects.toBeInstanceOf(ObjectExistsError);
      expect(second.wasRead()).toBe(false);
      // A body that would be read is refused too.
      await expect(storage.put(key, Readable.from([randomBytes(64)]))).rejects.toBeInstanceOf(ObjectExistsError);
      expect(await readAll(await storage.get(key))).toEqual(original);
      expect((await storage.stat(key))?.size).toBe(64);
    });

    it('reports a missing key: get rejects with ObjectNotFoundError, stat is null', async () => {
      const key = newKey('missing');
      await expect(storage.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(storage.get(key, { start: 1, end: 2 })).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await storage.stat(key)).toBeNull();
    });

    it('treats a prefix of other keys as no object', async () => {
      const key = newKey('dir/leaf');
      await storage.put(key, Readable.from([Buffer.from('x')]));
      const parent = key.slice(0, key.lastIndexOf('/'));
      expect(await storage.stat(parent)).toBeNull();
      await expect(storage.get(parent)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await storage.delete(parent);
      expect(await storage.stat(key)).not.toBeNull();
    });

    it('deletes idempotently', async () => {
      const key = newKey();
      await storage.put(key, Readable.from([Buffer.from('bye')]));
      await storage.delete(key);
      expect(await storage.stat(key)).toBeNull();
      await expect(storage.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(storage.delete(key)).resolves.toBeUndefined();
      await expect(storage.delete(newKey('never-existed'))).resolves.toBeUndefined();
      // The key is free again.
      await storage.put(key, Readable.from([Buffer.from('again')]));
      expect((await readAll(await storage.get(key))).toString()).toBe('again');
    });

    it('lists by prefix', async () => {
      const root = `list-${randomUUID()}`;
      const keys = [`${root}/a/1`, `${root}/a/2`, `${root}/a/10/x`, `${root}/ab/1`, `${root}/b/1`, `${root}-other/1`];
      for (const [i, key] of keys.entries()) await storage.put(key, Readable.from([Buffer.alloc(i + 1, 1)]));

      const listed = async (prefix: string) => (await collect(storage.list(prefix))).map((o) => o.key).sort();
      expect(await listed(`${root}/`)).toEqual(keys.slice(0, 5).sort());
      expect(await listed(`${root}/a/`)).toEqual([`${root}/a/1`, `${root}/a/10/x`, `${root}/a/2`]);
      expect(await listed(`${root}/a`)).toEqual([`${root}/a/1`, `${root}/a/10/x`, `${root}/a/2`, `${root}/ab/1`]);
      expect(await listed(`${root}/a/1`)).toEqual([`${root}/a/1`, `${root}/a/10/x`]);
      expect(await listed(`${root}/nothing/`)).toEqual([]);
      expect(await listed(root)).toEqual([...keys].sort());

      const infos = await collect(storage.list(`${root}/b/`));
      expect(infos).toHaveLength(1);
      expect(infos[0]).toMatchObject({ key: `${root}/b/1`, size: 5 });
      expect(infos[0]?.lastModified).toBeInstanceOf(Date);

      await storage.delete(`${root}/a/2`);
      expect(await listed(`${root}/a/`)).toEqual([`${root}/a/1`, `${root}/a/10/x`]);
    });

    it('rejects invalid keys with InvalidKeyError before touching anything', async () => {
      const invalid = [
        '../x',
        'a/../../x',
        '..',
        '/abs',
        'a//b',
        'a/',
        '',
        'with spaces',
        'back\\slash',
        'ünïcode',
        'nul\u0000byte',
        '.staging/x',
        'a/.hidden',
        './a',
        'x'.repeat(513),
        `a/${'x'.repeat(256)}`,
      ];
      for (const key of invalid) {
        const body = untouchedBody();
        await expect(storage.put(key, body.stream), key).rejects.toBeInstanceOf(InvalidKeyError);
        expect(body.wasRead(), key).toBe(false);
        await expect(storage.get(key), key).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(storage.stat(key), key).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(storage.delete(key), key).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(storage.presignedGetUrl(key, 60), key).rejects.toBeInstanceOf(InvalidKeyError);
      }
      for (const prefix of ['../', '/abs', 'a//', 'with space']) {
        await expect(collect(storage.list(prefix)), prefix).rejects.toBeInstanceOf(InvalidKeyError);
      }
      // The longest valid key works (segments of 200: s3rver appends a suffix to its file names).
      const longest = `${'a'.repeat(200)}/${'b'.repeat(200)}/${'c'.repeat(110)}`;
      expect(longest).toHaveLength(512);
      await storage.put(longest, Readable.from([Buffer.from('ok')]));
      expect((await storage.stat(longest))?.size).toBe(2);
      await storage.delete(longest);
    });

    it('leaves no object when the body errors midway, and the key can then be written', async () => {
      // One small failure and one past 5 MiB (the smallest S3 part size: a multipart upload on S3).
      for (const before of [1024, 6 * MiB]) {
        const key = newKey(`fails-after-${before}`);
        const failing = Readable.from(failAfter(before, new Error('client went away')));
        await expect(storage.put(key, failing)).rejects.toThrow('client went away');
        expect(await storage.stat(key)).toBeNull();
        await expect(storage.get(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
        expect(await collect(storage.list(key))).toEqual([]);

        const bytes = randomBytes(100);
        await storage.put(key, Readable.from([bytes]));
        expect(await readAll(await storage.get(key))).toEqual(bytes);
      }
    });

    it('stores nothing when the body length differs from the declared size', async () => {
      const key = newKey();
      await expect(storage.put(key, Readable.from([randomBytes(5)]), { size: 10 })).rejects.toBeInstanceOf(SizeMismatchError);
      await expect(storage.put(key, Readable.from([randomBytes(15)]), { size: 10 })).rejects.toBeInstanceOf(SizeMismatchError);
      expect(await storage.stat(key)).toBeNull();
      await expect(storage.put(key, Readable.from([randomBytes(10)]), { size: 10 })).resolves.toEqual({ size: 10 });
    });

    it('gives a presigned URL that a plain fetch can GET (s3), or null (filesystem, memory: the API streams)', async () => {
      const key = newKey();
      const bytes = randomBytes(2048);
      await storage.put(key, Readable.from([bytes]), { contentType: 'application/pdf' });
      const url = await storage.presignedGetUrl(key, 300);
      if (storage.kind !== 's3') {
        expect(url).toBeNull();
        expect(await storage.presignedGetUrl(key, 300, { filename: 'x.pdf' })).toBeNull();
        return;
      }
      expect(url).toMatch(/^https?:\/\//);
      const plain = await fetch(url!);
      expect(plain.status).toBe(200);
      expect(Buffer.from(await plain.arrayBuffer())).toEqual(bytes);

      const named = await fetch(
        (await storage.presignedGetUrl(key, 300, { filename: 'Grand-mère "Lettre" 1952.pdf', contentType: 'application/pdf' }))!,
      );
      expect(named.status).toBe(200);
      expect(named.headers.get('content-type')).toBe('application/pdf');
      const disposition = named.headers.get('content-disposition');
      expect(disposition).toContain('attachment;');
      expect(disposition).toContain(`filename*=UTF-8''Grand-m%C3%A8re%20%22Lettre%22%201952.pdf`);
      expect(disposition).toContain('filename="Grand-m_re _Lettre_ 1952.pdf"');
      expect(Buffer.from(await named.arrayBuffer())).toEqual(bytes);

      // Signed for the requested lifetime (s3rver does not check V4 signatures, MinIO does).
      const params = new URL(url!).searchParams;
      expect(params.get('X-Amz-Expires')).toBe('300');
      expect(params.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    });

    describe('staged parts', () => {
      const newStaging = () => `staging/uploads/${randomUUID()}/`;
      const put = (staging: string, at: number, bytes: Buffer | AsyncIterable<Buffer>, run: string | null, maxSize = 8 * MiB) =>
        storage.putPart(staging, at, Buffer.isBuffer(bytes) ? Readable.from([bytes]) : Readable.from(bytes), { run, maxSize });

      it('stores parts that continue one run, lists them, reads them back, and composes the object', async () => {
        const staging = newStaging();
        const [a, b, c] = [randomBytes(300_000), randomBytes(1), randomBytes(70_000)];
        const first = await put(staging, 0, a, null);
        expect(first).toMatchObject({ at: 0, size: a.length });
        const second = await put(staging, a.length, b, first.run);
        const third = await put(staging, a.length + 1, c, second.run);
        expect(await storage.statPart(staging, a.length)).toEqual(second);
        expect(await storage.statPart(staging, 12)).toBeNull();
        const listed = (await storage.listParts(staging)).sort((x, y) => x.at - y.at);
        expect(listed).toEqual([first, second, third]);
        expect(digest(await readAll(await storage.getPart(staging, third)))).toBe(digest(c));
        expect(digest(await readAll(await storage.getPart(staging, first, { start: 10, end: 19 })))).toBe(digest(a.subarray(10, 20)));
        const key = newKey();
        const size = a.length + 1 + c.length;
        const composed = await storage.composeParts(staging, [third, first, second], key, { size, contentType: 'audio/wav' });
        expect(composed.size).toBe(size);
        // Written once where the backend can: one run from its start is not copied.
        expect(composed.copied).toBe(storage.kind === 'filesystem' ? 0 : size);
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(Buffer.concat([a, b, c])));
        // Create-only, like put; and the parts stay, so a later attempt can compose again elsewhere.
        await expect(storage.composeParts(staging, listed, key, { size })).rejects.toBeInstanceOf(ObjectExistsError);
        const again = newKey();
        await storage.composeParts(staging, listed, again, { size });
        expect(digest(await readAll(await storage.get(again)))).toBe(digest(Buffer.concat([a, b, c])));
        // Deleting the staging prefix (as uploads do) leaves the objects whole.
        for (const obj of await collect(storage.list(staging))) await storage.delete(obj.key);
        expect(await storage.listParts(staging)).toEqual([]);
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(Buffer.concat([a, b, c])));
      });

      it('composes parts of several runs (a writer that may still be running is never appended to)', async () => {
        const staging = newStaging();
        const [a, b] = [randomBytes(5000), randomBytes(7000)];
        const first = await put(staging, 0, a, null);
        const second = await put(staging, a.length, b, null);
        const key = newKey();
        expect(await storage.composeParts(staging, [first, second], key, { size: a.length + b.length })).toEqual({ size: 12_000, copied: 12_000 });
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(Buffer.concat([a, b])));
      });

      it('a failed part leaves no part, and the next one at that offset continues the run cleanly', async () => {
        const staging = newStaging();
        const a = randomBytes(4000);
        const first = await put(staging, 0, a, null);
        await expect(put(staging, a.length, failAfter(600_000, new Error('client went away')), first.run)).rejects.toThrow('client went away');
        expect(await storage.statPart(staging, a.length)).toBeNull();
        await expect(put(staging, a.length, randomBytes(20), first.run, 10)).rejects.toBeInstanceOf(SizeMismatchError);
        await expect(put(staging, a.length, Buffer.alloc(0), first.run)).rejects.toBeInstanceOf(SizeMismatchError);
        expect(await storage.listParts(staging)).toEqual([first]);
        const b = randomBytes(3000);
        const second = await put(staging, a.length, b, first.run);
        const key = newKey();
        await storage.composeParts(staging, [first, second], key, { size: 7000 });
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(Buffer.concat([a, b])));
      });

      it('a part that was stored is forgotten by deletePart and can be sent again; a second one at its offset is refused', async () => {
        const staging = newStaging();
        const first = await put(staging, 0, randomBytes(100), null);
        await expect(put(staging, 0, randomBytes(100), null)).rejects.toBeInstanceOf(ObjectExistsError);
        await storage.deletePart(staging, 0);
        await storage.deletePart(staging, 0);
        expect(await storage.statPart(staging, 0)).toBeNull();
        const bytes = randomBytes(50);
        const again = await put(staging, 0, bytes, null);
        const key = newKey();
        await storage.composeParts(staging, [again], key, { size: 50 });
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(bytes));
      });

      it('a part writer stores parts back to back in one run, takes the next part while the last is stored, and stores no part it did not end', async () => {
        const staging = newStaging();
        const [a, b, c] = [randomBytes(300_000), randomBytes(70_000), randomBytes(5_000)];
        const writer = await openPartWriter(storage, staging, 0, { run: null, maxSize: 8 * MiB });
        for (let i = 0; i < a.length; i += 64 * 1024) await writer.write(a.subarray(i, i + 64 * 1024));
        const ending = writer.endPart();
        await writer.write(b.subarray(0, 1000));
        const first = await ending;
        await writer.write(b.subarray(1000));
        const second = await writer.endPart();
        await writer.write(c.subarray(0, 100));
        await writer.close();
        expect(first).toEqual({ at: 0, size: a.length, run: first.run });
        expect(second).toEqual({ at: a.length, size: b.length, run: first.run });
        expect((await storage.listParts(staging)).sort((x, y) => x.at - y.at)).toEqual([first, second]);
        await expect(writer.write(c)).rejects.toThrow();
        // The next writer goes on in the same run from the last part; the closed writer's tail is cut off.
        const next = await openPartWriter(storage, staging, a.length + b.length, { run: second.run, maxSize: 8 * MiB });
        await next.write(c);
        const third = await next.endPart();
        await next.close();
        const key = newKey();
        const composed = await storage.composeParts(staging, [first, second, third], key, { size: a.length + b.length + c.length });
        expect(composed.copied).toBe(storage.kind === 'filesystem' ? 0 : composed.size);
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(Buffer.concat([a, b, c])));
        // A part over maxSize is not stored; nor is one at an offset that holds a part.
        const small = await openPartWriter(storage, staging, a.length + b.length + c.length, { run: third.run, maxSize: 10 });
        await small.write(randomBytes(20)).catch(() => undefined);
        await expect(small.endPart()).rejects.toBeInstanceOf(SizeMismatchError);
        await small.close();
        expect(await storage.statPart(staging, a.length + b.length + c.length)).toBeNull();
        await expect(openPartWriter(storage, staging, a.length, { run: null, maxSize: 8 * MiB }).then(async (w) => {
          await w.write(randomBytes(10));
          try {
            return await w.endPart();
          } finally {
            await w.close();
          }
        })).rejects.toBeInstanceOf(ObjectExistsError);
      });

      it("an upload's parts (≥ 5 MiB, a small last one) are composed copying at most the small last part, again under a second key", async () => {
        const staging = newStaging();
        const [a, b, c] = [randomBytes(6 * MiB), randomBytes(5 * MiB + 7), randomBytes(300_000)];
        const first = await put(staging, 0, a, null);
        // A part stored but not recorded is deleted and sent again into the same run (reconcile).
        const lost = await put(staging, a.length, randomBytes(5 * MiB + 7), first.run);
        expect(lost.run).toBe(first.run);
        await storage.deletePart(staging, a.length);
        expect(await storage.statPart(staging, a.length)).toBeNull();
        const second = await put(staging, a.length, b, first.run);
        const third = await put(staging, a.length + b.length, c, second.run);
        expect(second).toEqual({ at: a.length, size: b.length, run: first.run });
        expect(await storage.statPart(staging, a.length)).toEqual(second);
        expect((await storage.listParts(staging)).sort((x, y) => x.at - y.at)).toEqual([first, second, third]);
        await expect(put(staging, 0, a, null)).rejects.toBeInstanceOf(ObjectExistsError);
        // The head of a part can be read before composition (sniffing the file type needs 4,100 bytes).
        expect(await readAll(await storage.getPart(staging, second, { start: 0, end: 4099 }))).toEqual(b.subarray(0, 4100));

        const size = a.length + b.length + c.length;
        const whole = digest(Buffer.concat([a, b, c]));
        const key = newKey();
        const composed = await storage.composeParts(staging, [first, second, third], key, { size, contentType: 'video/mp4' });
        // Filesystem: a link to the run; S3: only the small last part is sent again, the server copies the rest.
        expect(composed).toEqual({ size, copied: { filesystem: 0, s3: c.length, memory: size }[storage.kind] });
        expect(digest(await readAll(await storage.get(key)))).toBe(whole);
        if (storage.kind === 's3') expect((await storage.stat(key))?.contentType).toBe('video/mp4');
        // After composition a whole part reads back, and a failed finish can compose again elsewhere.
        expect(digest(await readAll(await storage.getPart(staging, second)))).toBe(digest(b));
        expect(digest(await readAll(await storage.getPart(staging, first, { start: MiB, end: 2 * MiB - 1 })))).toBe(digest(a.subarray(MiB, 2 * MiB)));
        await expect(storage.composeParts(staging, [first, second, third], key, { size })).rejects.toBeInstanceOf(ObjectExistsError);
        const again = newKey();
        expect(await storage.composeParts(staging, [first, second, third], again, { size })).toEqual({ size, copied: { filesystem: 0, s3: 0, memory: size }[storage.kind] });
        expect(digest(await readAll(await storage.get(again)))).toBe(whole);
        // Deleting the staging prefix leaves the originals whole.
        for (const obj of await collect(storage.list(staging))) await storage.delete(obj.key);
        expect(await collect(storage.list(staging))).toEqual([]);
        expect(digest(await readAll(await storage.get(key)))).toBe(whole);
      });

      it('composes ≥ 5 MiB parts of several runs and a writer of them, byte for byte', async () => {
        const staging = newStaging();
        const [a, b, c] = [randomBytes(5 * MiB), randomBytes(6 * MiB), randomBytes(10)];
        const writer = await openPartWriter(storage, staging, 0, { run: null, maxSize: 8 * MiB });
        for (let i = 0; i < a.length; i += 256 * 1024) await writer.write(a.subarray(i, i + 256 * 1024));
        const first = await writer.endPart();
        await writer.close();
        // A new run (an earlier writer might still be writing), then a small tail in it.
        const second = await put(staging, a.length, b, null);
        const third = await put(staging, a.length + b.length, c, second.run);
        // Memory keeps every part as an object of its own: it has no runs.
        if (storage.kind !== 'memory') expect(second.run).not.toBe(first.run);
        const size = a.length + b.length + c.length;
        const key = newKey();
        const composed = await storage.composeParts(staging, [first, second, third], key, { size });
        expect(composed).toEqual({ size, copied: size });
        expect(digest(await readAll(await storage.get(key)))).toBe(digest(Buffer.concat([a, b, c])));
      });

      it('refuses parts with gaps, a wrong size, and staging prefixes that are not folders', async () => {
        const staging = newStaging();
        const first = await put(staging, 0, randomBytes(10), null);
        await expect(storage.composeParts(staging, [first, { ...first, at: 11 }], newKey(), { size: 20 })).rejects.toBeInstanceOf(RangeError);
        await expect(storage.composeParts(staging, [first], newKey(), { size: 11 })).rejects.toBeInstanceOf(SizeMismatchError);
        await expect(storage.putPart('staging/x', 0, Readable.from([Buffer.from('a')]), { run: null, maxSize: 1 })).rejects.toBeInstanceOf(InvalidKeyError);
        await expect(storage.listParts('../')).rejects.toBeInstanceOf(InvalidKeyError);
      });
    });

    it('rejects presigned URL lifetimes outside 1 s to 7 days', async () => {
      const key = newKey();
      for (const ttl of [0, -5, 1.5, 604_801]) {
        await expect(storage.presignedGetUrl(key, ttl), String(ttl)).rejects.toBeInstanceOf(RangeError);
      }
    });
  });
}

/** Big buffers are compared by digest: a failing toEqual on them would print (and diff) every byte. */
const digest = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

/** Random bytes made chunk by chunk, hashed as they are produced: the test never holds them all. */
export async function* generateBytes(size: number, chunkSize: number, hash: ReturnType<typeof createHash>): AsyncGenerator<Buffer> {
  for (let sent = 0; sent < size; sent += chunkSize) {
    const chunk = randomBytes(Math.min(chunkSize, size - sent));
    hash.update(chunk);
    yield chunk;
  }
}

/** Yields `bytes` bytes, then fails like a dropped upload. */
export async function* failAfter(bytes: number, error: Error): AsyncGenerator<Buffer> {
  const chunkSize = 256 * 1024;
  for (let sent = 0; sent < bytes; sent += chunkSize) yield randomBytes(Math.min(chunkSize, bytes - sent));
  throw error;
}

/** A body that records whether anyone read it. */
export function untouchedBody(): { stream: Readable; wasRead(): boolean } {
  let read = false;
  const stream = new Readable({
    read() {
      read = true;
      this.push(Buffer.from('should not be stored'));
      this.push(null);
    },
  });
  return { stream, wasRead: () => read };
}
