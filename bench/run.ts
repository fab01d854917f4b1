// `npm run bench`: every benchmark in sequence. Each prints ratios against its own baseline.
import 'reflect-metadata';
import { run as graphqlVsSql } from './graphql-vs-sql.js';

await graphqlVsSql();
process.exit(0);
