import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { FilesystemStorage, STAGING_DIR } from '../../src/storage/filesystem.storage.js';
import { RUN_QUEUE_BYTES } from '../../src/storage/filesystem.run-writer.js';
import { ObjectExistsError } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { collect, readAll, storageContract } from './storage.contract.js';

async function makeFilesystem() {
  const root = await mkdtemp(join(tmpdir(), 'dmc-fs-storage-'));
  const storage = await createStorage({ kind: 'filesystem', root });
  return { storage, root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

storageContract('filesystem', makeFilesystem);

describe('filesystem storage specifics', () => {
  it('reads and composes a part object left by the release before runs (an upload in flight across the upgrade)', async () => {
    const { storage, cleanup } = await makeFilesystem();
    try {
      const staging = 'staging/uploads/u2/';
      // What the previous release stored: the part's bytes under its own name.
      const old = Buffer.from('{"at":0, but really the first bytes of a JSON file the old release stored');
      await storage.put(`${staging}at-000000000000000`, Readable.from([old]));
      const legacy = await storage.statPart(staging, 0);
      expect(legacy).toEqual({ at: 0, size: old.length, run: '' });
      expect(await storage.listParts(staging)).toEqual([legacy]);
      // The next part cannot append to it: it starts a run of its own.
      const next = await storage.putPart(staging, old.length, Readable.from([Buffer.from('!')]), { run: legacy!.run, maxSize: 10 });
      expect(next.run).toMatch(/^run-/);
      expect(await readAll(await storage.getPart(staging, legacy!, { start: 1, end: 4 }))).toEqual(old.subarray(1, 5));
      await expect(storage.composeParts(staging, [legacy!, next], 'chests/c/originals/o2', { size: old.length + 1 })).resolves.toEqual({ size: old.length + 1, copied: old.length + 1 });
      expect(await readAll(await storage.get('chests/c/originals/o2'))).toEqual(Buffer.concat([old, Buffer.from('!')]));
    } finally {
      await cleanup();
    }
  });

  it('composes one run into the original by a hard link: the original is the very file the parts were written to', async () => {
    const { storage, root, cleanup } = await makeFilesystem();
    try {
      const staging = 'staging/uploads/u1/';
      const first = await storage.putPart(staging, 0, Readable.from([Buffer.from('hello ')]), { run: null, maxSize: 100 });
      const second = await storage.putPart(staging, 6, Readable.from([Buffer.from('world')]), { run: first.run, maxSize: 100 });
      expect(second.run).toBe(first.run);
      await expect(storage.composeParts(staging, [first, second], 'chests/c/originals/o', { size: 11 })).resolves.toEqual({ size: 11, copied: 0 });
      const run = await stat(join(root, 'staging', 'uploads', 'u1', first.run));
      const original = await stat(join(root, 'chests', 'c', 'originals', 'o'));
      expect(original.ino).toBe(run.ino);
      expect(await readFile(join(root, 'chests', 'c', 'originals', 'o'), 'utf8')).toBe('hello world');
      // Nothing went through the temp folder: no second copy was written.
      expect(await readdir(join(root, STAGING_DIR))).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('a part writer keeps its run open: chunks gathered into few writes, one fsync of the run and a fsynced marker per part, nothing written twice', async () => {
    const { storage, cleanup } = await makeFilesystem();
    try {
      const fs = storage as FilesystemStorage;
      const staging = 'staging/uploads/u4/';
      const chunk = 64 * 1024;
      const partSize = 2 * RUN_QUEUE_BYTES;
      const bytes = Buffer.alloc(3 * partSize, 7);
      const before = { ...fs.io };
      const writer = await fs.openParts(staging, 0, { run: null, maxSize: partSize });
      const parts = [];
      for (let at = 0; at < bytes.length; at += chunk) {
        await writer.write(bytes.subarray(at, at + chunk));
        if ((at + chunk) % partSize === 0) parts.push(await writer.endPart());
      }
      await writer.close();
      const markers = parts.reduce((n, p) => n + Buffer.byteLength(JSON.stringify(p)), 0);
      const chunks = bytes.length / chunk;
      expect(parts.map((p) => p.size)).toEqual([partSize, partSize, partSize]);
      // Written once: the run's bytes plus three small markers.
      expect(fs.io.bytes - before.bytes).toBe(bytes.length + markers);
      // Durability as before: per part, the run's fsync, then the marker's and its folder's.
      expect(fs.io.fsyncs - before.fsyncs).toBe(3 * 3);
      // Chunks handed over while a write is on its way go down together (one write each before: 192 + 3).
      expect(fs.io.writes - before.writes).toBeLessThanOrEqual(chunks / 8 + 3);
      const key = 'chests/c/originals/o4';
      await fs.composeParts(staging, parts, key, { size: bytes.length });
      expect((await readAll(await fs.get(key))).equals(bytes)).toBe(true);
    } finally {
      await cleanup();
    }
  });

  it('stores key a/b/c as the file <root>/a/b/c and nothing is left in staging', async () => {
    const { storage, root, cleanup } = await makeFilesystem();
    try {
      await storage.put('chests/c1/originals/o1', Readable.from([Buffer.from('hello')]));
      expect(await readdir(join(root, 'chests', 'c1', 'originals'))).toEqual(['o1']);
      expect(await readdir(join(root, STAGING_DIR))).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('lets exactly one of two concurrent puts of a key win', async () => {
    const { storage, cleanup } = await makeFilesystem();
    try {
      const key = 'chests/c/originals/race';
      const results = await Promise.allSettled(
        ['first', 'second', 'third'].map((text) => storage.put(key, Readable.from([Buffer.from(text)]))),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(2);
      for (const r of lost) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(ObjectExistsError);
      expect(['first', 'second', 'third']).toContain((await readAll(await storage.get(key))).toString());
    } finally {
      await cleanup();
    }
  });

  it('shows no partial object while a put is still streaming', async () => {
    const { storage, root, cleanup } = await makeFilesystem();
    try {
      const key = 'chests/c/originals/slow';
      const body = new PassThrough();
      const putting = storage.put(key, body);
      body.write(Buffer.alloc(1024, 1));
      await new Promise((r) => setTimeout(r, 50));
      expect(await storage.stat(key)).toBeNull();
      expect(await collect(storage.list(''))).toEqual([]);
      expect(await readdir(join(root, STAGING_DIR))).toHaveLength(1);
      body.end(Buffer.alloc(1024, 2));
      await expect(putting).resolves.toEqual({ size: 2048 });
      expect((await storage.stat(key))?.size).toBe(2048);
    } finally {
      await cleanup();
    }
  });

  it('never lists staging leftovers, and sweeps old ones', async () => {
    const { storage, root, cleanup } = await makeFilesystem();
    try {
      // What a crash mid-write leaves behind.
      await writeFile(join(root, STAGING_DIR, 'crashed-upload'), 'partial');
      await storage.put('a/b', Readable.from([Buffer.from('x')]));
      expect((await collect(storage.list(''))).map((o) => o.key)).toEqual(['a/b']);
      expect(await (storage as FilesystemStorage).sweepStaging(60_000)).toBe(0);
      expect(await (storage as FilesystemStorage).sweepStaging(-1)).toBe(1);
      expect(await readdir(join(root, STAGING_DIR))).toEqual([]);
    } finally {
      await cleanup();
    }
  });

  it('keeps every key inside the root', async () => {
    const { root, cleanup } = await makeFilesystem();
    const storage = new FilesystemStorage(join(root, 'inner'));
    try {
      await storage.init();
      for (const key of ['../escape', '../../etc/passwd', '/etc/passwd', 'a/../../b', '..\\x']) {
        await expect(storage.put(key, Readable.from([Buffer.from('x')]))).rejects.toThrow('Invalid storage key');
      }
      expect((await readdir(root)).sort()).toEqual([STAGING_DIR, 'inner']);
      expect(await readdir(join(root, 'inner', STAGING_DIR))).toEqual([]);
    } finally {
      await cleanup();
    }
  });
});
