/**
 * PostGraphile V5 (amber preset, library mode: `postgraphile()` + grafserv on node:http) on the
 * bench's tables, as a child process of bench/nested-vs-postgraphile.ts. It connects as the
 * database owner and reads the tables directly: no access rules of ours run here.
 * Env: DATABASE_URL, PORT, POOL_MAX.
 */
import { createServer } from 'node:http';
import { postgraphile } from 'postgraphile';
import { makePgService } from 'postgraphile/adaptors/pg';
import { grafserv } from 'postgraphile/grafserv/node';
import { PostGraphileAmberPreset } from 'postgraphile/presets/amber';

const port = Number(process.env.PORT);
const preset: GraphileConfig.Preset = {
  extends: [PostGraphileAmberPreset],
  // No Relay global ids (the rows' ids are what our API returns), and every column may order and
  // filter (as PostGraphile V4's default ignoreIndexes did: our indexes are partial, which V5 ignores).
  disablePlugins: ['NodePlugin', 'PgIndexBehaviorsPlugin'],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL!,
      schemas: ['public'],
      poolConfig: { max: Number(process.env.POOL_MAX ?? 10) },
    }),
  ],
  // Our order is `date_taken desc nulls last`; PostGraphile's DESC is Postgres's (nulls first) unless told.
  schema: { pgOrderByNullsLast: true },
  grafserv: { graphiql: false, watch: false },
  grafast: { explain: false },
};

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.keepAliveTimeout = 60_000;
await serv.addTo(server);
if (process.env.PRINT_SCHEMA) {
  const { printSchema } = await import('postgraphile/graphql');
  console.log(printSchema(await pgl.getSchema()));
}
server.listen(port, '127.0.0.1', () => console.log(`postgraphile ready on ${port}`));
process.on('SIGTERM', () => {
  server.close();
  void Promise.resolve(pgl.release()).finally(() => process.exit(0));
});
