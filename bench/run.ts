// `npm run bench`: every benchmark in sequence. Each prints ratios against its own baseline.
import 'reflect-metadata';
import { run as graphqlVsSql } from './graphql-vs-sql.js';
import { run as uploadVsPut } from './upload-vs-put.js';

await graphqlVsSql();
await uploadVsPut();
process.exit(0);
