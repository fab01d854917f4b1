import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationsList } from '../migrations/index.js';
import { migrate } from '../src/db/orm.js';
import { FileType, ProcessingStatus, TagSource } from '../src/db/enums.js';
import { BACKENDS, createTestDatabase } from './support/db.js';
import { makeAccount, makeAsset, makeChest, makeContribution } from './support/factories.js';
import { type Account, type Asset, Upload } from '../src/db/entities/index.js';
import { newToken } from '../src/domain/tokens.js';

describe('migrations', () => {
  it('lists every migration file in migrations/index.ts, in order', async () => {
    const files = (await readdir(join(import.meta.dirname, '..', 'migrations')))
      .filter((f) => /^Migration\d+.*\.ts$/.test(f))
      .map((f) => f.replace(/\.ts$/, ''))
      .sort();
    expect(migrationsList.map((m) => m.name)).toEqual(files);
  });

  it.each(BACKENDS)('bring a fresh %s database to exactly what the entities describe (migration:check)', async (backend) => {
    const db = await createTestDatabase(backend, { migrated: false });
    try {
      expect(await migrate(db.orm)).toEqual(migrationsList.map((m) => m.name));
      expect(await db.orm.migrator.checkSchema()).toBe(false);
      expect(await db.orm.schema.getUpdateSchemaSQL({ wrap: false })).toBe('');
      // Running again is a no-op.
      expect(await migrate(db.orm)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('rolls all the way down and up again on postgres', async () => {
    const db = await createTestDatabase('postgres');
    try {
      await db.orm.migrator.down({ to: 0 });
      const tables = await db.orm.em.fork().execute<{ n: string }[]>(
        "select count(*) as n from information_schema.tables where table_schema = 'public' and table_name in ('chest','asset','story','contribution')",
      );
      expect(Number(tables[0]!.n)).toBe(0);
      await migrate(db.orm);
      expect(await db.orm.migrator.checkSchema()).toBe(false);
    } finally {
      await db.close();
    }
  });

  it('records who added each memory from the upload that created it: not a later duplicate upload, never for a guest', async () => {
    const db = await createTestDatabase('postgres');
    try {
      const em = db.orm.em.fork();
      const chest = await makeChest(em);
      const [first, second] = [(await makeAccount(em)).account, (await makeAccount(em)).account];
      const [byFirst, byGuest, byNobody] = [await makeAsset(em, chest), await makeAsset(em, chest, { contribution: await makeContribution(em, chest) }), await makeAsset(em, chest)];
      const upload = (account: Account | null, asset: Asset, over: Partial<Upload> = {}) =>
        em.create(Upload, { chest, account, asset, filename: 'x.jpg', size: 1, declaredMime: 'image/jpeg', tokenHash: newToken().hash, expiresAt: new Date(), ...over });
      upload(first, byFirst, { createdAt: new Date(Date.UTC(2026, 0, 1)) });
      // The second member sent the same bytes later and was told "duplicate": they did not add it.
      upload(second, byFirst, { duplicate: true, createdAt: new Date(Date.UTC(2026, 0, 2)) });
      upload(null, byGuest);
      await em.flush();
      const before = migrationsList.findIndex((m) => m.name === 'Migration20261203181023_bin_and_review') - 1;
      await db.orm.migrator.down({ to: migrationsList[before]!.name });
      await migrate(db.orm);
      const rows = await em.execute<{ id: string; added_by_id: string | null }[]>(`select "id", "added_by_id" from "asset" where "chest_id" = ?`, [chest.id]);
      expect(new Map(rows.map((r) => [r.id, r.added_by_id]))).toEqual(
        new Map([
          [byFirst.id, first.id],
          [byGuest.id, null],
          [byNobody.id, null],
        ]),
      );
    } finally {
      await db.close();
    }
  });

  it('marks transcripts stored before rough ones existed as not rough, with no confidence', async () => {
    const db = await createTestDatabase('postgres');
    try {
      const em = db.orm.em.fork();
      const chest = await makeChest(em);
      const old = { text: 'We planted roses.', language: 'en', segments: [{ start: 0, end: 1.4, text: 'We planted roses.' }] };
      const stored = await makeAsset(em, chest, { fileType: FileType.AUDIO });
      const none = await makeAsset(em, chest, { fileType: FileType.AUDIO });
      // A row as the code before rough transcripts wrote it, in the schema before that migration.
      const before = migrationsList.findIndex((m) => m.name === 'Migration20261202040411_transcript_rough') - 1;
      await db.orm.migrator.down({ to: migrationsList[before]!.name });
      await em.execute(`update "asset" set "transcription" = ?::jsonb where "id" = ?`, [JSON.stringify(old), stored.id]);
      await migrate(db.orm);
      const rows = await em.execute<{ id: string; transcription: unknown }[]>(`select "id", "transcription" from "asset" where "chest_id" = ?`, [chest.id]);
      expect(new Map(rows.map((r) => [r.id, r.transcription]))).toEqual(
        new Map<string, unknown>([
          [stored.id, { ...old, rough: false, confidence: null }],
          [none.id, null],
        ]),
      );
    } finally {
      await db.close();
    }
  });

  it("clears the first local describer's colour tags and captions, keeping people's words, EXIF, keywords and the page check", async () => {
    const db = await createTestDatabase('postgres');
    try {
      const em = db.orm.em.fork();
      const chest = await makeChest(em);
      const record = (model: string) => [{ task: 'describeImage', status: 'DONE', provider: 'local', model, error: null, at: new Date().toISOString() }];
      const tag = (name: string, source: TagSource) => ({ name, source, confidence: 0.8 });
      const tags = [tag('Whitby', TagSource.USER), tag('1962', TagSource.EXIF), tag('yellow', TagSource.AI), tag('landscape', TagSource.AI), tag('document', TagSource.AI), tag('choir', TagSource.KEYWORD)];
      const rows = [
        { caption: 'A mostly yellow photograph from the 1980s, taken in summer.', model: 'pixel-statistics-v1' },
        { caption: 'A page of text, captured in the 1970s.', model: 'pixel-statistics-v1' },
        { caption: 'An black-and-white panoramic photograph.', model: 'pixel-statistics-v1' },
        { caption: 'Grandma on the pier, a yellow photograph.', model: 'pixel-statistics-v1' },
        { caption: 'A mostly yellow photograph from the 1980s, taken in summer.', model: 'centernet-coco' },
      ];
      const assets = [];
      for (const r of rows) assets.push(await makeAsset(em, chest, { caption: r.caption, tags, analyses: record(r.model) as never }));
      const before = migrationsList.findIndex((m) => m.name === 'Migration20261202065700_pixel_captions') - 1;
      await db.orm.migrator.down({ to: migrationsList[before]!.name });
      await migrate(db.orm);
      const after = await em.execute<{ id: string; caption: string | null; tags: { name: string }[] }[]>(`select "id", "caption", "tags" from "asset" where "chest_id" = ?`, [chest.id]);
      const byId = new Map(after.map((a) => [a.id, a]));
      const kept = ['Whitby', '1962', 'document', 'choir'];
      expect(assets.map((a) => byId.get(a.id)!.caption)).toEqual([null, null, null, 'Grandma on the pier, a yellow photograph.', rows[4]!.caption]);
      expect(assets.slice(0, 4).map((a) => byId.get(a.id)!.tags.map((t) => t.name))).toEqual([kept, kept, kept, kept]);
      // Another describer's results are not touched.
      expect(byId.get(assets[4]!.id)!.tags.map((t) => t.name)).toEqual(tags.map((t) => t.name));
    } finally {
      await db.close();
    }
  });

  it('asks the worker to analyse again the photos and videos the face step never saw, and those the pixel describer described', async () => {
    const db = await createTestDatabase('postgres');
    try {
      const em = db.orm.em.fork();
      const chest = await makeChest(em);
      const run = (task: string, model = 'm') => ({ task, status: 'DONE', provider: 'local', model, error: null, at: new Date().toISOString() });
      const done = { status: ProcessingStatus.COMPLETE };
      const photo = await makeAsset(em, chest, { ...done, analyses: [run('describeImage', 'centernet-coco')] as never });
      const video = await makeAsset(em, chest, { ...done, fileType: FileType.VIDEO, analyses: [run('describeImage')] as never });
      const pixels = await makeAsset(em, chest, { ...done, fileType: FileType.DOCUMENT, analyses: [run('describeImage', 'pixel-statistics-v1')] as never });
      await makeAsset(em, chest, { ...done, analyses: [run('describeImage'), run('faces')] as never });
      const blurred = await makeAsset(em, chest, { ...done, analyses: [run('describeImage'), run('faces')] as never, redaction: { signature: 'x', thumbnails: [] } as never });
      await makeAsset(em, chest, { ...done, analyses: [run('describeImage'), run('faces')] as never, redaction: { signature: 'y', thumbnails: [], placeholder: 'abc' } as never });
      await makeAsset(em, chest, { ...done, fileType: FileType.AUDIO, analyses: [run('transcribe')] as never });
      await makeAsset(em, chest, { ...done, analyses: [] });
      await makeAsset(em, chest, { ...done, deletedAt: new Date(), analyses: [run('describeImage')] as never });
      await makeAsset(em, chest, { status: ProcessingStatus.FAILED, analyses: [run('describeImage')] as never });
      const before = migrationsList.findIndex((m) => m.name === 'Migration20261202070641_analysis_requests') - 1;
      await db.orm.migrator.down({ to: migrationsList[before]!.name });
      await migrate(db.orm);
      const rows = await em.execute<{ asset_id: string; reason: string }[]>(`select "asset_id", "reason" from "analysis_request"`);
      expect(new Map(rows.map((r) => [r.asset_id, r.reason]))).toEqual(
        new Map([
          [photo.id, 'faces'],
          [video.id, 'faces'],
          [pixels.id, 'retired-describer'],
          [blurred.id, 'faces'],
        ]),
      );
    } finally {
      await db.close();
    }
  });
});
