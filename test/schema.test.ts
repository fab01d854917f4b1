import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSchema, printSortedSchema } from '../src/graphql/schema.js';

describe('schema/schema.graphql', () => {
  it('matches the schema the code builds (run `npm run schema:emit` and review the diff)', async () => {
    const committed = await readFile(join(import.meta.dirname, '..', 'schema', 'schema.graphql'), 'utf8');
    expect(printSortedSchema(await createSchema())).toBe(committed);
  });
});
