import { readdir, readFile } from 'node:fs/promises';
import type { GraphQLObjectType } from 'graphql';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSchema, printSortedSchema } from '../src/graphql/schema.js';

describe('schema/schema.graphql', () => {
  it('matches the schema the code builds (run `npm run schema:emit` and review the diff)', async () => {
    const committed = await readFile(join(import.meta.dirname, '..', 'schema', 'schema.graphql'), 'utf8');
    expect(printSortedSchema(await createSchema())).toBe(committed);
  });
});

describe('field resolvers', () => {
  // The schema has no middlewares or auth checks, so type-graphql's wrapper around a plain field
  // (an object and a closure per field, for every field of every node) would only cost: every
  // object type declares simpleResolvers, and plain fields resolve as graphql-js's default does.
  it('plain fields of object types have no resolver of their own', async () => {
    const schema = await createSchema();
    const tag = schema.getType('Tag') as GraphQLObjectType;
    const thumbnail = schema.getType('Thumbnail') as GraphQLObjectType;
    expect(tag.getFields().name!.resolve).toBeUndefined();
    expect(thumbnail.getFields().width!.resolve).toBeUndefined();
    // A field with a field resolver keeps it.
    expect(thumbnail.getFields().url!.resolve).toBeTypeOf('function');
  });

  it('every @ObjectType in src/ declares simpleResolvers', async () => {
    const files = (await readdir(join(import.meta.dirname, '..', 'src'), { recursive: true })).filter((f) => f.endsWith('.ts'));
    const missing: string[] = [];
    let declared = 0;
    for (const file of files) {
      const text = await readFile(join(import.meta.dirname, '..', 'src', file), 'utf8');
      for (const m of text.matchAll(/@ObjectType\(([\s\S]*?)\)\n/g)) {
        declared++;
        if (!m[1]!.includes('simpleResolvers: true')) missing.push(`${file}: @ObjectType(${m[1]!.slice(0, 40)}`);
      }
    }
    expect(declared).toBe((await countOccurrences(files, '@ObjectType(')));
    expect(declared).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});

async function countOccurrences(files: string[], needle: string): Promise<number> {
  let n = 0;
  for (const file of files) n += (await readFile(join(import.meta.dirname, '..', 'src', file), 'utf8')).split(needle).length - 1;
  return n;
}
