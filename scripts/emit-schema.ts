// `npm run schema:emit`: writes schema/schema.graphql from the code. Review its diff like code.
import 'reflect-metadata';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createSchema, printSortedSchema } from '../src/graphql/schema.js';

const out = join(import.meta.dirname, '..', 'schema', 'schema.graphql');
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, printSortedSchema(await createSchema()));
console.log(`wrote ${out}`);
