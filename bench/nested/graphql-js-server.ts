/**
 * The floor for trivial documents, as a child process: graphql-js `parse`, `validate` and
 * `execute` on node:http, nothing else. A request with a bearer token also runs the one session
 * lookup our app runs (the same statement), so the table shows what that lookup costs on its own.
 * Env: DATABASE_URL, PORT.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { execute, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, validate } from 'graphql';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { viewerId: { type: GraphQLString, resolve: (_s, _a, ctx: { accountId: string | null }) => ctx.accountId } } }),
});

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables?: Record<string, unknown> };
  let accountId: string | null = null;
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) {
    const hash = createHash('sha256').update(auth.slice(7), 'utf8').digest('hex');
    const session = (await pool.query('select "s0".* from "session" as "s0" where "s0"."token_hash" = $1 limit $2', [hash, 1])).rows[0];
    if (session && !session.revoked_at && session.expires_at.getTime() > Date.now()) accountId = session.account_id;
  }
  const document = parse(body.query);
  const errors = validate(schema, document);
  const result = errors.length ? { errors } : await execute({ schema, document, variableValues: body.variables, contextValue: { accountId } });
  const text = JSON.stringify(result);
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => {
    res.writeHead(500);
    res.end(String(err));
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), '127.0.0.1', () => console.log(`graphql-js ready on ${process.env.PORT}`));
process.on('SIGTERM', () => {
  server.close();
  void pool.end().finally(() => process.exit(0));
});
