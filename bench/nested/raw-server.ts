/**
 * The raw baseline of the nested-query bench, as a child process: node:http and a `pg` pool run the
 * 9 statements our app ran for the bench's nested chest query when issue 14 was measured (captured
 * from its query log at 3741052: the session, the chest, the caller's role, then together the
 * summary counts, the asset page, stories, contributions, the recent memories and the chest's named
 * people), and answer the JSON our app answers. No GraphQL: the floor under ours. It does not
 * follow the app's SQL as that improves (e1b8633 reads 3 session columns, 7121611 pages with
 * LATERAL): a baseline that moves with the code stops being one; change it on purpose, and say so.
 * Env: DATABASE_URL, PORT, POOL_MAX.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: Number(process.env.POOL_MAX ?? 10) });
const port = Number(process.env.PORT);
const PAGE = 100;
const LIST = 20;
const VISIBLE = `a.chest_id = any($1::uuid[]) and a.deleted_at is null and (a.contribution_id is null or exists (
  select 1 from contribution c where c.id = a.contribution_id and c.status = 'APPROVED'))`;

/** The statements our app runs for the nested query, in its order (1 to 3 in turn, the rest together). */
const SQL = {
  session: 'select "s0".* from "session" as "s0" where "s0"."token_hash" = $1 limit $2',
  chest: 'select "c0".* from "chest" as "c0" where "c0"."id" = $1 limit $2',
  role: 'select chest_id, role from membership where account_id = $1 and chest_id = any($2::uuid[])',
  summary: `select a.chest_id, count(*) as total,
       count(*) filter (where a.file_type = 'IMAGE') as images, count(*) filter (where a.file_type = 'VIDEO') as videos,
       count(*) filter (where a.file_type = 'AUDIO') as audio, count(*) filter (where a.file_type = 'DOCUMENT') as documents,
       count(*) filter (where a.status = 'COMPLETE') as processed, count(*) filter (where a.status in ('PENDING', 'PROCESSING')) as pending,
       count(*) filter (where a.status = 'FAILED') as failed, coalesce(sum(a.size), 0) as bytes
     from asset a where ${VISIBLE} group by a.chest_id`,
  assets: `select * from (select a.*, row_number() over (partition by a.chest_id order by a.date_taken desc nulls last, a.created_at desc, a.id desc) as rn__
     from asset a where ${VISIBLE}) t where t.rn__ <= $2 order by t.chest_id, t.rn__`,
  stories: `select * from (select x.*, row_number() over (partition by x.chest_id order by x.created_at desc, x.id desc) as rn__
     from "story" x where x.chest_id = any($1::uuid[])) t where t.rn__ <= $2 order by t.chest_id, t.rn__`,
  contributions: `select * from (select x.*, row_number() over (partition by x.chest_id order by x.created_at desc, x.id desc) as rn__
     from "contribution" x where x.chest_id = any($1::uuid[])) t where t.rn__ <= $2 order by t.chest_id, t.rn__`,
  recent: `select * from (select a.*, row_number() over (partition by a.chest_id order by a.created_at desc, a.id desc) as rn__
     from asset a where ${VISIBLE}) t where t.rn__ <= $2 order by t.chest_id, t.rn__`,
  people: 'select c.id, c.person_name, p.name, p.hidden from chest c left join person p on p.chest_id = c.id and p.name is not null where c.id = any($1::uuid[])',
};

type Row = Record<string, any>;
const notFound = { errors: [{ message: 'Chest not found', extensions: { code: 'NOT_FOUND' } }], data: null };

async function nestedChest(authorization: string | undefined, chestId: string): Promise<unknown> {
  const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : null;
  if (!token) return notFound;
  const hash = createHash('sha256').update(token, 'utf8').digest('hex');
  const session: Row | undefined = (await pool.query(SQL.session, [hash, 1])).rows[0];
  if (!session || session.revoked_at || session.expires_at.getTime() <= Date.now()) {
    return { errors: [{ message: 'Session is invalid or has expired; sign in again', extensions: { code: 'UNAUTHENTICATED' } }], data: null };
  }
  const chest: Row | undefined = (await pool.query(SQL.chest, [chestId, 1])).rows[0];
  if (!chest || chest.deleted_at) return notFound;
  const ids = [chest.id];
  const role = (await pool.query(SQL.role, [session.account_id, ids])).rows[0];
  if (!role && !chest.is_public) return notFound;
  const [summary, assets, stories, contributions] = await Promise.all([
    pool.query(SQL.summary, [ids]),
    pool.query(SQL.assets, [ids, PAGE + 1]),
    pool.query(SQL.stories, [ids, LIST + 1]),
    pool.query(SQL.contributions, [ids, LIST + 1]),
    pool.query(SQL.recent, [ids, 10]),
    pool.query(SQL.people, [ids]),
  ]);
  const s: Row = summary.rows[0] ?? { total: 0, images: 0, bytes: 0 };
  return {
    data: {
      chest: {
        id: chest.id,
        personName: chest.person_name,
        summary: { totalAssets: Number(s.total), images: Number(s.images), totalBytes: Number(s.bytes) },
        assets: {
          edges: assets.rows.slice(0, PAGE).map((a: Row) => ({
            node: {
              id: a.id,
              filename: a.filename,
              dateTaken: a.date_taken ? (a.date_taken as Date).toISOString() : null,
              status: a.status,
              tags: (a.tags as Row[]).map((t) => ({ name: t.name, source: t.source, confidence: t.confidence })),
              thumbnails: (a.thumbnails as Row[]).map((t) => ({ name: t.name, width: t.width, height: t.height, mimeType: t.mimeType })),
            },
          })),
        },
        stories: { edges: stories.rows.slice(0, LIST).map((x: Row) => ({ node: { id: x.id, title: x.title, status: x.status } })) },
        contributions: {
          edges: contributions.rows.slice(0, LIST).map((x: Row) => ({ node: { id: x.id, contributorName: x.contributor_name, status: x.status } })),
        },
      },
    },
  };
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { query: string; variables?: { id?: string } };
  if (body.query.trim() === '{ __typename }') return answer(res, 200, { data: { __typename: 'Query' } });
  answer(res, 200, await nestedChest(req.headers.authorization, String(body.variables?.id)));
}

const server = createServer((req, res) => {
  handle(req, res).catch((err: unknown) => answer(res, 500, { errors: [{ message: String(err) }] }));
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => console.log(`raw ready on ${port}`));
process.on('SIGTERM', () => {
  server.close();
  void pool.end().finally(() => process.exit(0));
});
