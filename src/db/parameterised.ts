import { CompiledQuery, type Kysely } from 'kysely';
import type { EntityManager } from '@mikro-orm/postgresql';

/** The parts of MikroORM's SQL connection and driver that em.execute goes through (@mikro-orm/sql, AbstractSqlConnection). */
interface SqlConnection {
  prepareQuery(query: string, params: readonly unknown[]): { query: string; params: unknown[]; formatted: string };
  getSql(query: string, formatted: string): string;
  getClient(): Kysely<unknown>;
  executeQuery<T>(query: string, cb: () => Promise<T>, context: object): Promise<T>;
  transformRawResult<T>(res: unknown, method: 'all'): T;
}
interface SqlDriver {
  rethrow<T>(promise: Promise<T>): Promise<T>;
}

/**
 * em.execute, with the parameters sent as parameters. MikroORM writes them into the SQL text
 * (formatQuery), so every run of a statement is a new text to Postgres, parsed and planned again,
 * and never a named statement (db/prepared-statements.ts). Everything else is em.execute's: the
 * onQuery hook (tests count statements with it), the query log, the transaction the
 * EntityManager is in, and MikroORM's translation of driver errors. For the reads every request
 * makes (the session, the chest with the caller's role, the compiled chest read).
 *
 * Parameters: strings, numbers, booleans and null, as `?` placeholders outside quoted text.
 */
export async function executeParameterised<T extends object>(em: EntityManager, sql: string, params: readonly unknown[]): Promise<T[]> {
  const connection = em.getConnection() as unknown as SqlConnection;
  const q = connection.prepareQuery(sql, params);
  const text = placeheldText(q.query, q.params.length);
  const values = q.params.map(plainValue);
  const client = (em.getTransactionContext() as Kysely<unknown> | undefined) ?? connection.getClient();
  const run = connection.executeQuery(connection.getSql(q.query, q.formatted), async () => connection.transformRawResult<T[]>(await client.executeQuery(CompiledQuery.raw(text, values)), 'all'), {
    query: q.query,
    params: q.params,
  });
  return (em.getDriver() as unknown as SqlDriver).rethrow(run);
}

const converted = new Map<string, string>();
/** Texts kept at most; these are the few fixed texts requests run, so the cap is never reached in practice. */
const MAX_CONVERTED = 1_000;

/** dollarPlaceholders, once per text: the compiled chest read's text is some 4 KB, read character by character. */
function placeheldText(sql: string, expected: number): string {
  const known = converted.get(sql);
  if (known !== undefined) return known;
  const text = dollarPlaceholders(sql, expected);
  if (converted.size >= MAX_CONVERTED) converted.clear();
  converted.set(sql, text);
  return text;
}

/** `?` placeholders as `$1`, `$2`, … (outside single-quoted text and double-quoted names). */
export function dollarPlaceholders(sql: string, expected: number): string {
  let n = 0;
  let out = '';
  let quote: string | null = null;
  for (const ch of sql) {
    if (quote) {
      if (ch === quote) quote = null;
      out += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      out += ch;
    } else if (ch === '?') {
      out += `$${++n}`;
    } else {
      out += ch;
    }
  }
  if (n !== expected) throw new Error(`executeParameterised: ${n} placeholders for ${expected} parameters`);
  return out;
}

function plainValue(value: unknown): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new Error(`executeParameterised: a ${typeof value} parameter; pass strings, numbers, booleans or null`);
}
