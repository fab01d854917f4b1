/**
 * The nested-query bench's data, written with plain SQL into a throwaway database the bench
 * creates (and drops): one owner with a session, one chest per size with that many memories
 * (tags, two thumbnails, dates, a few undated), stories, contributions and named people.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';

/** The server the tests use; the bench creates its own database there. */
export const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface Seeded {
  url: string;
  /** The owner's bearer token (a session row, as signIn makes). */
  token: string;
  /** Chest id per number of memories in it. */
  chests: Map<number, string>;
  drop(): Promise<void>;
}

async function admin(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: ADMIN_URL });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/**
 * A fresh database with the project's migrations applied (by `migrate`: the measured build's own,
 * so a commit given with --ref gets its migrations, not the working tree's) and the chests seeded.
 */
export async function seedDatabase(sizes: readonly number[], migrate: (url: string) => Promise<void>): Promise<Seeded> {
  const name = `dmc_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  await admin(`create database "${name}"`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const drop = () => admin(`drop database if exists "${name}" with (force)`);
  try {
    await migrate(url.toString());
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      const token = randomBytes(32).toString('base64url');
      const chests = await insertRows(client, token, sizes);
      // PostGraphile's `Chest.totalBytes` (a computed column); the tables themselves are the app's.
      await client.query(`create function chest_total_bytes(c chest) returns bigint stable language sql as
        $$ select coalesce(sum(a.size), 0)::bigint from asset a where a.chest_id = c.id and a.deleted_at is null $$`);
      await client.query('analyze');
      return { url: url.toString(), token, chests, drop };
    } finally {
      await client.end();
    }
  } catch (err) {
    await drop();
    throw err;
  }
}

async function insertRows(client: pg.Client, token: string, sizes: readonly number[]): Promise<Map<number, string>> {
  const sha = (s: string) => createHash('sha256').update(s).digest('hex');
  await client.query('begin');
  const { rows: [account] } = await client.query<{ id: string }>(
    `insert into account (id, created_at, updated_at, email, display_name, password_hash)
     values (gen_random_uuid(), now(), now(), 'owner@bench.example', 'Bench Owner', 'not-a-real-hash') returning id`,
  );
  await client.query(
    `insert into session (id, created_at, updated_at, account_id, token_hash, expires_at)
     values (gen_random_uuid(), now(), now(), $1, $2, now() + interval '30 days')`,
    [account!.id, sha(token)],
  );
  const chests = new Map<number, string>();
  for (const n of sizes) {
    const { rows: [chest] } = await client.query<{ id: string }>(
      `insert into chest (id, created_at, updated_at, person_name, description, birth_date, passing_date)
       values (gen_random_uuid(), now(), now(), $1, 'A life in ' || $2 || ' memories', '1931-04-02', '2019-11-30') returning id`,
      [`Rose Ellis (${n})`, n],
    );
    const chestId = chest!.id;
    chests.set(n, chestId);
    await client.query(
      `insert into membership (id, created_at, updated_at, chest_id, account_id, role) values (gen_random_uuid(), now(), now(), $1, $2, 'OWNER')`,
      [chestId, account!.id],
    );
    // Kinds mixed (mostly photos), every 7th undated, dates and creation times distinct.
    await client.query(
      `insert into asset (id, created_at, updated_at, chest_id, filename, storage_key, file_type, size, mime_type, sha256,
                          status, progress, date_taken, thumbnails, tags, width, height, place, processed_at)
       select id, created, created, $1::uuid,
              'memory-' || lpad(i::text, 4, '0') || (case kind when 'IMAGE' then '.jpg' when 'VIDEO' then '.mp4' when 'AUDIO' then '.m4a' else '.pdf' end),
              'chests/' || $1::text || '/originals/' || id, kind, 100000 + i * 997,
              case kind when 'IMAGE' then 'image/jpeg' when 'VIDEO' then 'video/mp4' when 'AUDIO' then 'audio/mp4' else 'application/pdf' end,
              encode(sha256(($1::text || i)::bytea), 'hex'), 'COMPLETE', 100,
              case when i % 7 = 0 then null else timestamptz '1950-01-01 00:00:00+00' + (i * 13 % 25000) * interval '1 day' + i * interval '1 second' end,
              case when kind in ('IMAGE', 'VIDEO') then jsonb_build_array(
                jsonb_build_object('name', '256', 'width', 256, 'height', 192, 'mimeType', 'image/webp', 'storageKey', 'chests/' || $1::text || '/derivatives/' || id || '/256.webp'),
                jsonb_build_object('name', '1024', 'width', 1024, 'height', 768, 'mimeType', 'image/webp', 'storageKey', 'chests/' || $1::text || '/derivatives/' || id || '/1024.webp'))
              else '[]'::jsonb end,
              jsonb_build_array(
                jsonb_build_object('name', (array['garden', 'beach', 'wedding', 'kitchen', 'school'])[1 + i % 5], 'source', 'AI', 'confidence', round((0.5 + (i % 50) / 100.0)::numeric, 2)),
                jsonb_build_object('name', 'family', 'source', 'USER', 'confidence', 1)),
              1024, 768, case when i % 3 = 0 then 'Whitby' end, created
       from (select i, gen_random_uuid() as id, now() - i * interval '1 minute' as created,
                    case when i % 10 < 7 then 'IMAGE' when i % 10 = 7 then 'VIDEO' when i % 10 = 8 then 'AUDIO' else 'DOCUMENT' end as kind
             from generate_series(1, $2::int) as i) s`,
      [chestId, n],
    );
    // One memory in the bin, dated after all the others: every server must leave it out.
    await client.query(
      `insert into asset (id, created_at, updated_at, chest_id, filename, storage_key, file_type, size, mime_type, sha256, status, date_taken, deleted_at)
       values (gen_random_uuid(), now(), now(), $1::uuid, 'binned.jpg', 'chests/' || $1::text || '/originals/binned', 'IMAGE', 123, 'image/jpeg',
               encode(sha256(($1::text || 'binned')::bytea), 'hex'), 'COMPLETE', '2030-01-01', now())`,
      [chestId],
    );
    await client.query(
      `insert into story (id, created_at, updated_at, chest_id, title, content, style, status, version, published, lineage_id)
       select gen_random_uuid(), now() - i * interval '1 hour', now(), $1, 'Her life, take ' || i, 'Once upon a time ' || i, 'BRIEF', 'READY', 1, i = 1, null
       from generate_series(1, 3) as i`,
      [chestId],
    );
    await client.query(
      `insert into contribution (id, created_at, updated_at, chest_id, contributor_name, relationship, message, status, guest_token_hash)
       select gen_random_uuid(), now() - i * interval '1 hour', now(), $1::uuid, 'Guest ' || i, 'neighbour', 'I remember her laugh',
              (array['PENDING', 'APPROVED', 'REJECTED'])[1 + i % 3], encode(sha256(($1::text || 'guest' || i)::bytea), 'hex')
       from generate_series(1, 3) as i`,
      [chestId],
    );
    await client.query(
      `insert into person (id, created_at, updated_at, chest_id, name, hidden)
       values (gen_random_uuid(), now(), now(), $1, 'Rose', false), (gen_random_uuid(), now(), now(), $1, 'Tom', true)`,
      [chestId],
    );
  }
  await client.query('commit');
  return chests;
}
