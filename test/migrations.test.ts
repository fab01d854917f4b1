import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationsList } from '../migrations/index.js';
import { migrate } from '../src/db/orm.js';
import { FileType } from '../src/db/enums.js';
import { BACKENDS, createTestDatabase } from './support/db.js';
import { makeAsset, makeChest } from './support/factories.js';

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
});
