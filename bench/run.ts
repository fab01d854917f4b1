// `npm run bench`: every benchmark in sequence. Each prints ratios against its own baseline.
import 'reflect-metadata';
import { run as copiesVsBigint } from './copies-vs-bigint.js';
import { run as eventsVsWs } from './events-vs-ws.js';
import { run as fanout10k } from './fanout-10k.js';
import { run as graphqlVsSql } from './graphql-vs-sql.js';
import { run as imageVsSharp } from './image-vs-sharp.js';
import { run as nestedVsPostgraphile } from './nested-vs-postgraphile.js';
import { run as objectsVsSharp } from './objects-vs-sharp.js';
import { run as queryLimits } from './query-limits.js';
import { run as uploadVsPut } from './upload-vs-put.js';

// Issue 14's nested query against PostGraphile V5 and its 10,000-subscriber fan-out; `npm run bench -- --quick` shortens those two.
await nestedVsPostgraphile();
await graphqlVsSql();
await uploadVsPut();
await imageVsSharp();
await objectsVsSharp();
await eventsVsWs();
await fanout10k();
await queryLimits();
await copiesVsBigint();
process.exit(0);
