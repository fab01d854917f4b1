import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { fileTypeFromBuffer } from 'file-type';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account, Chest, ChestExport, Membership } from '../../src/db/entities/index.js';
import { ChestRole } from '../../src/db/enums.js';
import { exportLinkPath } from '../../src/domain/export/export-link.js';
import { sweepExports } from '../../src/domain/export/export-sweep.js';
import type { ChestRecord } from '../../src/domain/export/chest-record.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { apiClient, eventually, type GqlResponse } from '../support/client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { STORAGE_ENVS, startStorageEnv, type StorageEnv } from '../support/storage.js';
import { unzipTo } from '../support/unzip.js';
import { SCRIPT_CAPTION, type SeededChest, seedChest, STORY_TEXT, STREET_FILENAME, STREET_RECORDING_FILENAME, WHITBY } from './seed.js';

const run = promisify(execFile);
const CHROMIUM = '/usr/bin/chromium';

const EXPORT = `mutation($c: ID!, $l: Boolean!) { exportChest(chestId: $c, input: { includeLocation: $l }) { id status progress } }`;
const READY = `subscription($c: ID!) { exportReady(chestId: $c) { id status bytes error } }`;
const PROGRESS = `subscription($c: ID!) { exportProgress(chestId: $c) { id status progress } }`;
const GET = `query($id: ID!) { export(id: $id) { id status progress bytes includeLocation expiresAt downloadUrl } }`;

/** GPS as exiftool reads it from any file it knows (EXIF, XMP, QuickTime, ...): null when there is none. */
async function gpsOf(path: string): Promise<string | null> {
  const { stdout } = await run('exiftool', ['-j', '-n', '-GPSLatitude', '-GPSLongitude', '-GPSPosition', '-LocationInformation', path]);
  const [facts] = JSON.parse(stdout) as Record<string, unknown>[];
  const found = Object.keys(facts!).filter((k) => k !== 'SourceFile');
  return found.length ? JSON.stringify(facts) : null;
}

const sha256 = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

describe.each(STORAGE_ENVS)('exportChest on %s storage, with the worker and real clients', (storageName) => {
  let env: StorageEnv;
  let server: TestServer;
  let storage: StorageBackend;
  let api: ReturnType<typeof apiClient>;
  let owner: string;
  let chestId: string;
  let seeded: SeededChest;
  let work: string;
  const personName = 'Rose Ellis';

  beforeAll(async () => {
    env = await startStorageEnv(storageName);
    server = await startTestServer({ ...env.env, SWEEP_INTERVAL_MINUTES: '0' }, { worker: true });
    storage = await createStorage(server.config.storage);
    api = apiClient(server.app.url());
    owner = await api.signUp(`owner-${storageName}@example.com`);
    chestId = await api.createChest(owner, personName);
    const em = server.db.orm.em.fork();
    seeded = await seedChest(em, storage, await em.findOneOrFail(Chest, { id: chestId }));
    work = await mkdtemp(join(tmpdir(), 'dmc-export-test-'));
  }, 180_000);
  afterAll(async () => {
    await server?.stop();
    await env?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Asks for an export over HTTP, hears it finish over graphql-ws, and downloads it; answers the unzipped folder. */
  async function exportAndDownload(includeLocation: boolean) {
    const ws = api.ws(owner);
    try {
      const ready = api.collect(ws, READY, { c: chestId }, (all) => all.length >= 1);
      const progress = api.collect(ws, PROGRESS, { c: chestId }, (all) => all.some((r) => r.data?.exportProgress.status === 'READY'));
      await api.settled(ws);
      const { exportChest } = await api.must(EXPORT, { c: chestId, l: includeLocation }, owner);
      expect(exportChest.status).toBe('QUEUED');
      const [done] = (await ready.done) as GqlResponse[];
      expect(done!.data!.exportReady).toMatchObject({ id: exportChest.id, status: 'READY', error: null });
      const steps = ((await progress.done) as GqlResponse[]).map((r) => r.data!.exportProgress);
      expect(steps[0]!.status).toBe('RUNNING');
      expect(steps.map((s) => s.progress)).toEqual([...steps.map((s) => s.progress)].sort((a, b) => a - b));
      expect(steps.at(-1)).toMatchObject({ status: 'READY', progress: 100 });
      const row = (await api.must(GET, { id: exportChest.id }, owner)).export;
      expect(row).toMatchObject({ status: 'READY', progress: 100, includeLocation });
      const url = row.downloadUrl.startsWith('/') ? `${server.app.url()}${row.downloadUrl}` : row.downloadUrl;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toMatch(/^attachment; filename=/);
      const zipPath = join(work, `${exportChest.id}.zip`);
      await pipeline(Readable.fromWeb(res.body as never), createWriteStream(zipPath));
      const dir = join(work, exportChest.id);
      const names = await unzipTo(zipPath, dir);
      const record = JSON.parse(await readFile(join(dir, 'chest.json'), 'utf8')) as ChestRecord;
      return { id: exportChest.id as string, row, url, dir, names, record, zipPath };
    } finally {
      await ws.dispose();
    }
  }

  let withLocation: Awaited<ReturnType<typeof exportAndDownload>>;

  it('writes one ZIP with readable unique names, every record, byte-exact originals and the story', async () => {
    withLocation = await exportAndDownload(true);
    const { names, record, dir } = withLocation;
    expect(names).toEqual(
      expect.arrayContaining([
        'memories/1987-06-12 Whitby beach.jpg',
        'memories/1987-06-12 Whitby beach (2).jpg',
        'memories/undated Voice memo 12.m4a',
        'memories/undated letter to Rose.pdf',
        'chest.json',
        'index.html',
        'story.md',
        'story.html',
      ]),
    );
    // The caption with markup became a safe name: no "<", ">" or "/" from it.
    const scriptName = names.find((n) => n.startsWith('memories/1992-08-01 '))!;
    expect(scriptName).toMatch(/^memories\/1992-08-01 script window\.hacked = true script the pier\.png$/);
    expect(record.format).toBe('digital-memory-chest/1');
    expect(record.chest).toMatchObject({ id: chestId, personName, birthDate: '1931-03-02', passingDate: '2019-11-20', heroImageId: seeded.photo.id });
    expect(record.memories.map((m) => m.id).sort()).toEqual(seeded.included.map((a) => a.id).sort());
    for (const memory of record.memories) {
      const asset = seeded.included.find((a) => a.id === memory.id)!;
      expect(memory.sha256).toBe(asset.sha256);
      expect(memory.file.sha256).toBe(asset.sha256);
      expect(await sha256(join(dir, memory.file.path))).toBe(asset.sha256);
    }
    const photo = record.memories.find((m) => m.id === seeded.photo.id)!;
    expect(photo).toMatchObject({ caption: 'Whitby beach', place: 'Whitby', location: WHITBY, tags: [{ name: 'beach', source: 'USER' }] });
    expect(await gpsOf(join(dir, photo.file.path))).toContain('54.48');
    expect(record.memories.find((m) => m.id === seeded.recording.id)!.transcription!.segments).toEqual([{ start: 0, end: 2, text: 'We went down to the harbour.' }]);
    expect(record.memories.find((m) => m.id === seeded.document.id)!.extractedText).toBe('Dear Rose, the summer was long.');
    expect(record.contributions.map((c) => c.contributorName)).toEqual(['Aunt May']);
    expect(record.memories.find((m) => m.id === seeded.contributed.id)!.contributionId).toBe(record.contributions[0]!.id);
    expect(record.people).toEqual([expect.objectContaining({ name: 'Rose', faces: [expect.objectContaining({ memoryId: seeded.photo.id })] })]);
    const stories = record.stories;
    expect(stories.map((s) => [s.title, s.version, s.published])).toEqual([
      ['First draft', 1, false],
      ['The story of Rose', 2, true],
    ]);
    expect(stories[1]!.lineageId).toBe(stories[0]!.id);
    // A citation of a binned memory is not carried into the archive.
    expect(stories[0]!.paragraphs[0]!.assetIds).toEqual([seeded.photo.id]);
    expect(stories[1]!.paragraphs[0]!.assetIds).toEqual([seeded.photo.id, seeded.recording.id]);
    const all = JSON.stringify(record);
    for (const hidden of ['PENDING-CAPTION', 'REJECTED-CAPTION', 'BINNED-CAPTION', 'pending message']) expect(all).not.toContain(hidden);
    expect(await readFile(join(dir, 'story.md'), 'utf8')).toContain(STORY_TEXT);
    expect(await readFile(join(dir, 'story.html'), 'utf8')).toContain(STORY_TEXT);
    const index = await readFile(join(dir, 'index.html'), 'utf8');
    expect(index).toContain('&lt;script&gt;window.hacked = true&lt;/script&gt; the pier');
    expect(index).not.toContain(SCRIPT_CAPTION);
    expect(index).not.toMatch(/<script/i);
  }, 120_000);

  let withoutLocation: Awaited<ReturnType<typeof exportAndDownload>>;

  it('without locations: no file holds GPS (read by exiftool) and no record or page the coordinates', async () => {
    withoutLocation = await exportAndDownload(false);
    const { names, record, dir } = withoutLocation;
    expect(record.includeLocation).toBe(false);
    expect(record.memories.map((m) => m.id).sort()).toEqual(seeded.included.map((a) => a.id).sort());
    for (const name of names) {
      expect(await gpsOf(join(dir, name)), name).toBeNull();
      const text = (await readFile(join(dir, name))).toString('latin1');
      for (const coordinate of ['54.4858', '54.48579', '-0.6206', '+54.4858']) expect(text, name).not.toContain(coordinate);
    }
    for (const memory of record.memories) {
      expect(memory.location).toBeNull();
      expect(await sha256(join(dir, memory.file.path))).toBe(memory.file.sha256);
    }
    // The photo was written again (no EXIF), still the same picture size; the recording is its preview.
    const photo = record.memories.find((m) => m.id === seeded.photo.id)!;
    expect(photo.file.sha256).not.toBe(seeded.photo.sha256);
    expect(record.memories.find((m) => m.id === seeded.document.id)!.file.sha256).toBe(seeded.document.sha256);
  }, 120_000);

  it('without locations: no entry name, record, page or story holds a memory\'s original file name', async () => {
    const { names, record, dir } = withoutLocation;
    // Every original name, and the name without its extension of each memory without a caption (which named its entry before);
    // not "pier.png", whose caption ends "the pier" and whose entry so ends "the pier.png" by what the caption says.
    const stem = (a: { filename: string }) => a.filename.replace(/\.[^.]+$/, '');
    const forbidden = seeded.included.filter((a) => !a.caption?.includes(stem(a))).flatMap((a) => [a.filename, ...(a.caption ? [] : [stem(a)])]);
    expect(forbidden).toEqual(expect.arrayContaining([STREET_FILENAME, '12 Rosebank Lane', STREET_RECORDING_FILENAME]));
    const texts: [string, string][] = names.map((n) => [`entry name ${n}`, n]);
    for (const file of ['chest.json', 'index.html', 'story.md', 'story.html']) texts.push([file, (await readFile(join(dir, file))).toString('latin1')]);
    for (const [where, text] of texts) {
      for (const name of forbidden) {
        expect(text, where).not.toContain(name);
        expect(text, where).not.toContain(encodeURIComponent(name));
      }
    }
    // Memories without a caption are named by date and kind; chest.json's filename is the entry's own name.
    expect(names).toEqual(expect.arrayContaining(['memories/2001-05-03 photo.jpg', 'memories/undated recording.m4a', 'memories/undated recording (2).m4a', 'memories/undated document.pdf']));
    for (const memory of record.memories) expect(memory.filename).toBe(memory.file.path.slice('memories/'.length));
    // With locations the uploaded names are kept, as before.
    expect(withLocation.names).toEqual(expect.arrayContaining(['memories/2001-05-03 12 Rosebank Lane.jpg', 'memories/undated Mum at 4 Harbour Street.wav']));
    expect(withLocation.record.memories.find((m) => m.id === seeded.street.id)!.filename).toBe(STREET_FILENAME);
  }, 60_000);

  it('an archive without locations imports as memories whose type, name, size and hash are those of the bytes it holds, served with that type', async () => {
    const bytes = await readFile(withoutLocation.zipPath);
    const d = await api.must(`mutation($i: CreateUploadInput!) { createUpload(input: $i) { upload { id } url headers { name value } } }`, { i: { purpose: 'ARCHIVE', filename: 'chest.zip', size: bytes.length, mimeType: 'application/zip' } }, owner);
    const headers = Object.fromEntries((d.createUpload.headers as { name: string; value: string }[]).map((h) => [h.name, h.value]));
    const put = await fetch(`${server.app.url()}${d.createUpload.url}`, { method: 'PATCH', headers: { ...headers, 'Upload-Offset': '0' }, body: bytes });
    expect(put.status).toBe(200);
    const { importChest } = await api.must(`mutation($u: ID!) { importChest(input: { uploadId: $u }) { id status } }`, { u: d.createUpload.upload.id }, owner);
    const done = await eventually(async () => {
      const r = (await api.must(`query($id: ID!) { chestImport(id: $id) { status errorCode error chest { id } } }`, { id: importChest.id }, owner)).chestImport;
      return r.status === 'DONE' || r.status === 'FAILED' ? r : undefined;
    });
    expect(done).toMatchObject({ status: 'DONE', errorCode: null });
    const assets = (await api.must(`query($c: ID!) { chest(id: $c) { assets(first: 50) { edges { node { filename fileType mimeType size sha256 originalUrl } } } } }`, { c: done.chest.id }, owner)).chest.assets.edges.map(
      (e: { node: Record<string, unknown> }) => e.node,
    ) as { filename: string; fileType: string; mimeType: string; size: number; sha256: string; originalUrl: string }[];
    expect(assets).toHaveLength(withoutLocation.record.memories.length);
    // audio/mp4 and audio/x-m4a are one type under two names (the upload keeps either).
    const M4A = new Set(['audio/mp4', 'audio/x-m4a']);
    const sameType = (a: string, b: string) => a === b || (M4A.has(a) && M4A.has(b));
    for (const asset of assets) {
      const url = asset.originalUrl.startsWith('/') ? `${server.app.url()}${asset.originalUrl}` : asset.originalUrl;
      const res = await fetch(url);
      expect(res.status, asset.filename).toBe(200);
      const body = Buffer.from(await res.arrayBuffer());
      const sniffed = await fileTypeFromBuffer(body);
      expect(sniffed, asset.filename).toBeDefined();
      expect(sameType(asset.mimeType, sniffed!.mime), `${asset.filename}: ${asset.mimeType} vs bytes ${sniffed!.mime}`).toBe(true);
      expect(res.headers.get('content-type')!.split(';')[0], asset.filename).toBe(asset.mimeType);
      expect(asset.filename.split('.').pop()!.toLowerCase().replace('jpeg', 'jpg'), asset.filename).toBe(sniffed!.ext);
      expect(asset.size).toBe(body.length);
      expect(asset.sha256).toBe(createHash('sha256').update(body).digest('hex'));
      expect(asset.filename).not.toMatch(/Rosebank|Harbour/);
    }
    // The WAV came back as its m4a preview, named and typed so.
    const wav = withoutLocation.record.memories.find((m) => m.id === seeded.streetRecording.id)!;
    expect(assets.find((a) => a.sha256 === wav.file.sha256)).toMatchObject({ filename: 'undated recording (2).m4a', fileType: 'AUDIO', mimeType: 'audio/x-m4a' });
  }, 120_000);

  it('index.html shows the chest offline in Chromium: the name, a photo that loaded, the story, the timeline by year', async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`Chromium is not installed at ${CHROMIUM}: apt-get install -y chromium`);
    const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
    try {
      const context = await browser.newContext({ offline: true });
      const requests: string[] = [];
      await context.route('**/*', (route) => {
        requests.push(route.request().url());
        return route.request().url().startsWith('file://') ? route.continue() : route.abort();
      });
      const page = await context.newPage();
      await page.goto(`file://${join(withLocation.dir, 'index.html')}`, { waitUntil: 'load' });
      await page.screenshot({ path: join(withLocation.dir, 'screenshot.png'), fullPage: true });
      expect(await page.locator('h1').innerText()).toBe(personName);
      expect(await page.locator('.story').innerText()).toContain(STORY_TEXT);
      // The timeline: memories by year, oldest first, undated last; the two Whitby photos under 1987, both loaded.
      const years = await page.locator('h3[id^="y-"]').evaluateAll((hs) => hs.map((h) => h.id));
      expect(years[0]).toBe('y-1987');
      expect(years.at(-1)).toBe('y-Undated');
      expect(years).toContain('y-1992');
      expect(await page.locator('#y-1987 + .grid img').evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth > 0))).toEqual([true, true]);
      const widths = await page.$$eval('img', (imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth));
      expect(widths.length).toBeGreaterThanOrEqual(4);
      expect(widths.every((w) => w > 0)).toBe(true);
      expect(await page.evaluate(() => (globalThis as unknown as { hacked?: boolean }).hacked ?? false)).toBe(false);
      expect(await page.getByText(SCRIPT_CAPTION).count()).toBeGreaterThan(0);
      expect(requests.every((u) => u.startsWith('file://'))).toBe(true);
      expect(existsSync(join(withLocation.dir, 'screenshot.png'))).toBe(true);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it('only owners: editors and viewers FORBIDDEN, strangers and anonymous NOT_FOUND, for every entry point', async () => {
    const em = server.db.orm.em.fork();
    const chest = await em.findOneOrFail(Chest, { id: chestId });
    const tokens: Record<string, string | undefined> = { anonymous: undefined, stranger: await api.signUp(`stranger-${storageName}@example.com`) };
    for (const role of [ChestRole.EDITOR, ChestRole.VIEWER]) {
      const email = `${role.toLowerCase()}-${storageName}@example.com`;
      tokens[role] = await api.signUp(email);
      const account = await em.findOneOrFail(Account, { email });
      em.create(Membership, { chest, account, role });
    }
    await em.flush();
    const expected: Record<string, string> = { anonymous: 'NOT_FOUND', stranger: 'NOT_FOUND', EDITOR: 'FORBIDDEN', VIEWER: 'FORBIDDEN' };
    for (const [who, token] of Object.entries(tokens)) {
      const code = (r: GqlResponse) => r.errors?.[0]?.extensions?.code;
      expect(code(await api.gql(EXPORT, { c: chestId, l: true }, token)), who).toBe(expected[who]);
      expect(code(await api.gql(GET, { id: withLocation.id }, token)), who).toBe(expected[who]);
      const nested = await api.gql(`query($c: ID!) { chest(id: $c) { exports { edges { node { id } } } } }`, { c: chestId }, token);
      expect(code(nested), who).toBe(expected[who]);
      const ws = api.ws(token);
      try {
        // Refused when it starts, like the other subscriptions: one result carrying the error.
        const [refused] = await api.collect(ws, READY, { c: chestId }, () => true).done;
        expect(code(refused!), who).toBe(expected[who]);
      } finally {
        await ws.dispose();
      }
    }
    const mine = await api.must(`query($c: ID!) { chest(id: $c) { exports(first: 5) { edges { node { id status } } } } }`, { c: chestId }, owner);
    expect(mine.chest.exports.edges.map((e: { node: { id: string } }) => e.node.id)).toContain(withLocation.id);
  }, 60_000);

  it('the download link expires, and the sweep deletes an expired archive with its object', async () => {
    if (storageName === 'filesystem') {
      const old = exportLinkPath(server.config.secretKey, withLocation.id, Date.now() - 16 * 60_000);
      expect((await fetch(`${server.app.url()}${old}`)).status).toBe(404);
      const forged = withLocation.url.replace(/sig=[^&]+/, 'sig=AAAA');
      expect((await fetch(forged)).status).toBe(404);
    }
    const em = server.db.orm.em.fork();
    const row = await em.findOneOrFail(ChestExport, { id: withLocation.id });
    expect(await storage.stat(row.storageKey!)).not.toBeNull();
    row.expiresAt = new Date(Date.now() - 1000);
    await em.flush();
    expect((await api.must(GET, { id: row.id }, owner)).export.downloadUrl).toBeNull();
    if (storageName === 'filesystem') expect((await fetch(withLocation.url)).status).toBe(404);
    const report = await sweepExports(server.db.orm.em.fork(), storage, { graceMs: 86_400_000 });
    expect(report.expired).toContain(row.id);
    expect(await storage.stat(row.storageKey!)).toBeNull();
    expect(await server.db.orm.em.fork().findOne(ChestExport, { id: row.id })).toBeNull();
    expect((await api.gql(GET, { id: row.id }, owner)).errors?.[0]?.extensions?.code).toBe('NOT_FOUND');
  }, 60_000);
});
