import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { migrationsList } from '../migrations/index.js';
import { migrate } from '../src/db/orm.js';
import { BACKENDS, createTestDatabase } from './support/db.js';

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
});
