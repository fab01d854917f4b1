import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pino } from 'pino';
import yazl from 'yazl';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest } from '../../src/db/entities/index.js';
import type { ChestRecord } from '../../src/domain/export/chest-record.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { apiClient, eventually } from '../support/client.js';
import { startEmbeddedServer, startTestServer } from '../support/server.js';
import type { Config } from '../../src/config.js';
import type { MikroORM } from '@mikro-orm/postgresql';
import { sweepImportArchives } from '../../src/domain/import/import-sweep.js';
import { STORAGE_ENVS, startStorageEnv, type StorageEnv } from '../support/storage.js';
import { unzipTo } from '../support/unzip.js';
import { type SeededChest, seedChest, seedCopies } from './seed.js';

const EXPORT = `mutation($c: ID!) { exportChest(chestId: $c, input: { includeLocation: true }) { id } }`;
const GET_EXPORT = `query($id: ID!) { export(id: $id) { status downloadUrl } }`;
const IMPORT = `mutation($u: ID!) { importChest(input: { uploadId: $u }) { id status } }`;
const GET_IMPORT = `query($id: ID!) { chestImport(id: $id) { status progress errorCode error chest { id personName } } }`;
const RESOLVE = `mutation($k: ID!, $d: [ID!]!) { resolveDuplicates(input: { keepAssetId: $k, duplicateAssetIds: $d }) { id } }`;
const DISMISS = `mutation($a: [ID!]!) { dismissDuplicates(assetIds: $a) { id } }`;
const CONTRIBUTORS = `query($id: ID!) { asset(id: $id) { contributors { kind name contributionId accountId mergedAt } } }`;
const GROUPS = `query($c: ID!) { chest(id: $c) { duplicateGroups(first: 20) { edges { node { reason assets { filename } } } } } }`;

/**
 * chest.json with what must differ between two chests made from one another taken out: every id
 * (replaced by the record's kind and position, so references still have to point at the same
 * things), the new chest's own id and creation time, and when it was exported. Everything else,
 * creation times of memories, stories and contributions included, must be identical.
 */
function normalised(record: ChestRecord): unknown {
  const labels = new Map<string, string>();
  const label = (kind: string, list: { id: string }[]) => list.forEach((x, i) => labels.set(x.id, `${kind}${i}`));
  label('memory', record.memories);
  label('story', record.stories);
  label('contribution', record.contributions);
  label('person', record.people);
  record.people.forEach((p, i) => p.faces.forEach((f, j) => labels.set(f.id, `face${i}.${j}`)));
  labels.set(record.chest.id, 'chest');
  const { exportedAt: _e, ...rest } = record;
  const { createdAt: _c, ...chest } = record.chest;
  const text = JSON.stringify({ ...rest, chest });
  return JSON.parse(text.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, (id) => labels.get(id) ?? `unknown:${id}`));
}

/** Served mode on each storage backend (PostgreSQL, pg-boss), and the embedded default (PGlite, files). */
const SETUPS = [...STORAGE_ENVS, 'embedded'] as const;

describe.each(SETUPS)('export → import → export (%s)', (storageName) => {
  let env: StorageEnv | undefined;
  let server: { app: { url(): string }; orm: MikroORM; config: Config; stop(): Promise<void> };
  let api: ReturnType<typeof apiClient>;
  let work: string;
  let owner: string;
  let importer: string;
  let first: { dir: string; zip: string; record: ChestRecord };
  let seeded: SeededChest;

  beforeAll(async () => {
    if (storageName === 'embedded') {
      const embedded = await startEmbeddedServer({ SWEEP_INTERVAL_MINUTES: '0', JOB_RETRY_LIMIT: '0' });
      server = { app: embedded.app, orm: embedded.database.orm, config: embedded.config, stop: () => embedded.stop() };
    } else {
      env = await startStorageEnv(storageName);
      const served = await startTestServer({ ...env.env, SWEEP_INTERVAL_MINUTES: '0', JOB_RETRY_LIMIT: '0' }, { worker: true, log: pino({ level: process.env.DEBUG_IMPORT ? 'warn' : 'silent' }) });
      server = { app: served.app, orm: served.db.orm, config: served.config, stop: () => served.stop() };
    }
    api = apiClient(server.app.url());
    owner = await api.signUp(`rt-owner-${storageName}@example.com`);
    importer = await api.signUp(`rt-importer-${storageName}@example.com`);
    const chestId = await api.createChest(owner, 'Rose Ellis');
    const em = server.orm.em.fork();
    const storage = await createStorage(server.config.storage);
    const chest = await em.findOneOrFail(Chest, { id: chestId });
    seeded = await seedChest(em, storage, chest);
    // A resolved duplicate (the guest's approved copy merged into the owner's photo) and a dismissed pair.
    const { guestCopy, letterCopy } = await seedCopies(em, storage, chest, seeded);
    await api.must(RESOLVE, { k: seeded.photo.id, d: [guestCopy.id] }, owner);
    await api.must(DISMISS, { a: [seeded.document.id, letterCopy.id] }, owner);
    work = await mkdtemp(join(tmpdir(), 'dmc-round-trip-'));
    first = await exportChest(chestId, owner, 'first');
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    await env?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function exportChest(chestId: string, token: string, name: string) {
    const { exportChest } = await api.must(EXPORT, { c: chestId }, token);
    const row = await eventually(async () => {
      const r = (await api.must(GET_EXPORT, { id: exportChest.id }, token)).export;
      return r.status === 'READY' ? r : undefined;
    });
    const url = row.downloadUrl.startsWith('/') ? `${server.app.url()}${row.downloadUrl}` : row.downloadUrl;
    const zip = join(work, `${name}.zip`);
    await pipeline(Readable.fromWeb((await fetch(url)).body as never), createWriteStream(zip));
    const dir = join(work, name);
    await unzipTo(zip, dir);
    return { dir, zip, record: JSON.parse(await readFile(join(dir, 'chest.json'), 'utf8')) as ChestRecord };
  }

  /** An ARCHIVE upload of the file, in one PATCH; answers its id. */
  async function uploadArchive(token: string, bytes: Buffer): Promise<string> {
    const d = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { upload { id } url headers { name value } } }`, { i: { purpose: 'ARCHIVE', filename: 'chest.zip', size: bytes.length, mimeType: 'application/zip' } }, token);
    const headers = Object.fromEntries((d.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    const res = await fetch(`${server.app.url()}${d.createUpload.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: bytes });
    const body = (await res.json()) as { status?: string; assetId?: string | null };
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ status: 'COMPLETE', assetId: null });
    return d.createUpload.upload.id as string;
  }

  async function importArchive(token: string, bytes: Buffer) {
    const uploadId = await uploadArchive(token, bytes);
    const { importChest } = await api.must(IMPORT, { u: uploadId }, token);
    expect(importChest.status).toBe('QUEUED');
    return eventually(async () => {
      const r = (await api.must(GET_IMPORT, { id: importChest.id }, token)).chestImport;
      return r.status === 'DONE' || r.status === 'FAILED' ? r : undefined;
    });
  }

  const myChests = async (token: string) => (await api.must(`{ chests { edges { node { id } } } }`, {}, token)).chests.edges.length as number;

  it('gives identical records and identical SHA-256 of every original', async () => {
    const done = await importArchive(importer, await readFile(first.zip));
    expect(done).toMatchObject({ status: 'DONE', progress: 100, errorCode: null, chest: { personName: 'Rose Ellis' } });
    const again = await exportChest(done.chest.id, importer, 'again');
    expect(normalised(again.record)).toEqual(normalised(first.record));
    expect(again.record.memories.length).toBe(first.record.memories.length);
    for (const [i, m] of again.record.memories.entries()) {
      const before = first.record.memories[i]!;
      expect(m.file.path).toBe(before.file.path);
      expect(m.sha256).toBe(before.sha256);
      const bytes = await readFile(join(again.dir, m.file.path));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(before.sha256);
    }
    // The importer owns the new chest; the archive is not a memory anywhere.
    const role = await api.must(`query($c: ID!) { chest(id: $c) { myRole } }`, { c: done.chest.id }, importer);
    expect(role.chest.myRole).toBe('OWNER');
  }, 180_000);

  it('keeps who contributed merged copies and the dismissed pairs', async () => {
    const original = first.record;
    const photoAt = original.memories.findIndex((m) => m.id === seeded.photo.id);
    const may = original.contributions.find((c) => c.contributorName === 'Aunt May')!;
    const before = (await api.must(CONTRIBUTORS, { id: seeded.photo.id }, owner)).asset.contributors;
    expect(before).toHaveLength(2);
    expect(before[1]).toMatchObject({ kind: 'GUEST', name: 'Aunt May', contributionId: may.id, accountId: null });
    expect(original.memories[photoAt]!.mergedFrom).toEqual([{ kind: 'GUEST', name: 'Aunt May', contributionId: may.id, mergedAt: before[1].mergedAt }]);
    const letters = original.memories.filter((m) => m.fileType === 'DOCUMENT').map((m) => m.id);
    expect(letters).toHaveLength(2);
    expect(original.dismissedDuplicates).toEqual([letters]);

    const done = await importArchive(importer, await readFile(first.zip));
    expect(done.status).toBe('DONE');
    const again = await exportChest(done.chest.id, importer, 'again-duplicates');
    expect(normalised(again.record)).toEqual(normalised(original));
    const imported = again.record.memories[photoAt]!;
    const after = (await api.must(CONTRIBUTORS, { id: imported.id }, importer)).asset.contributors;
    // The memory's own entry is its uploader here (the importer); every merged copy reads the same,
    // its contribution remapped, and no account id from the other server.
    expect(after).toHaveLength(before.length);
    expect(after[0].kind).toBe(before[0].kind);
    const mayHere = again.record.contributions.find((c) => c.contributorName === 'Aunt May')!;
    expect(after.slice(1)).toEqual(before.slice(1).map((c: { contributionId: string | null }) => ({ ...c, contributionId: c.contributionId && mayHere.id })));
    const groups = async (chestId: string, token: string) => (await api.must(GROUPS, { c: chestId }, token)).chest.duplicateGroups.edges;
    expect(await groups(done.chest.id, importer)).toEqual(await groups(seeded.photo.chest.id, owner));
    expect(await groups(done.chest.id, importer)).toEqual([]);

    // An archive made before these records existed still imports: no merges, and the letters are suggested again.
    const older = await rezip((_z, r) => {
      delete (r as Partial<ChestRecord>).dismissedDuplicates;
      for (const m of r.memories) delete (m as Partial<typeof m>).mergedFrom;
    });
    const old = await importArchive(importer, older);
    expect(old.status).toBe('DONE');
    const oldGroups = await groups(old.chest.id, importer);
    expect(oldGroups).toHaveLength(1);
    expect(oldGroups[0].node.reason).toBe('EXACT');
    expect(oldGroups[0].node.assets.map((a: { filename: string }) => a.filename).sort()).toEqual(original.memories.filter((m) => m.fileType === 'DOCUMENT').map((m) => m.filename).sort());
  }, 180_000);

  /** The first export's files, zipped again with some changed. */
  async function rezip(change: (zip: yazl.ZipFile, record: ChestRecord) => void): Promise<Buffer> {
    const zip = new yazl.ZipFile();
    const record = structuredClone(first.record);
    change(zip, record);
    for (const m of record.memories) zip.addFile(join(first.dir, first.record.memories.find((x) => x.id === m.id)!.file.path), m.file.path);
    zip.addBuffer(Buffer.from(JSON.stringify(record)), 'chest.json');
    zip.end();
    const chunks: Buffer[] = [];
    for await (const c of zip.outputStream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  it('refuses bad archives with a stable code and leaves no chest', async () => {
    const before = await myChests(importer);
    const corrupt = await rezip((_z, r) => void (r.memories[0]!.file.sha256 = 'f'.repeat(64)));
    expect(await importArchive(importer, corrupt)).toMatchObject({ status: 'FAILED', errorCode: 'ARCHIVE_CORRUPT', chest: null });
    const unknown = await rezip((_z, r) => void ((r as { format: string }).format = 'someone-else/9'));
    expect(await importArchive(importer, unknown)).toMatchObject({ status: 'FAILED', errorCode: 'ARCHIVE_FORMAT' });
    const bomb = await rezip((z) => z.addBuffer(Buffer.alloc(64 * 1024 * 1024), 'zeros.bin', { compress: true }));
    expect(await importArchive(importer, bomb)).toMatchObject({ status: 'FAILED', errorCode: 'ARCHIVE_BOMB' });
    // "xx/evil.txt" becomes "../evil.txt" in the local header and the central directory (same length: still a valid ZIP).
    const named = await rezip((z) => z.addBuffer(Buffer.from('hello'), 'xx/evil.txt'));
    const slip = Buffer.from(named.toString('latin1').replaceAll('xx/evil.txt', '../evil.txt'), 'latin1');
    expect(await importArchive(importer, slip)).toMatchObject({ status: 'FAILED', errorCode: 'ARCHIVE_UNSAFE_PATH' });
    const truncated = (await readFile(first.zip)).subarray(0, 2000);
    expect(await importArchive(importer, truncated)).toMatchObject({ status: 'FAILED', errorCode: 'ARCHIVE_INVALID' });
    expect(await myChests(importer)).toBe(before);
    // Not a ZIP at all: refused while uploading, before any import.
    const d = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url headers { name value } } }`, { i: { purpose: 'ARCHIVE', filename: 'x.zip', size: 5, mimeType: 'application/zip' } }, importer);
    const headers = Object.fromEntries((d.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    const res = await fetch(`${server.app.url()}${d.createUpload.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: Buffer.from('hello') });
    expect(res.status).toBe(415);
  }, 180_000);

  it('only the uploader imports their archive; anonymous callers are refused', async () => {
    const uploadId = await uploadArchive(importer, await readFile(first.zip));
    expect((await api.gql(IMPORT, { u: uploadId }, owner)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
    expect((await api.gql(IMPORT, { u: uploadId })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await api.gql(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { url } }`, { i: { purpose: 'ARCHIVE', filename: 'x.zip', size: 5 } })).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    // Never imported: the sweep removes the archive once it is past its grace (here: moved past it).
    const storage = await createStorage(server.config.storage);
    expect(await storage.stat(`imports/${uploadId}.zip`)).not.toBeNull();
    const removed = await sweepImportArchives(server.orm.em.fork(), storage, { graceMs: 60_000, now: Date.now() + 120_000 });
    expect(removed).toContain(`imports/${uploadId}.zip`);
    expect(await storage.stat(`imports/${uploadId}.zip`)).toBeNull();
  }, 60_000);
});

