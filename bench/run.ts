// `npm run bench`: every benchmark in sequence. Each prints ratios against its own baseline.
import 'reflect-metadata';
import { run as copiesVsBigint } from './copies-vs-bigint.js';
import { run as eventsVsWs } from './events-vs-ws.js';
import { run as graphqlVsSql } from './graphql-vs-sql.js';
import { run as imageVsSharp } from './image-vs-sharp.js';
import { run as objectsVsSharp } from './objects-vs-sharp.js';
import { run as queryLimits } from './query-limits.js';
import { run as uploadVsPut } from './upload-vs-put.js';

await graphqlVsSql();
await uploadVsPut();
await imageVsSharp();
await objectsVsSharp();
await eventsVsWs();
await queryLimits();
await copiesVsBigint();
process.exit(0);
