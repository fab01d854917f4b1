import { createHash } from 'node:crypto';
import type pg from 'pg';

/** Times a process sees a text before its connections prepare it: one-off statements (migrations, scripts) stay unnamed. */
export const RUNS_BEFORE_PREPARING = 2;
/** Named statements one connection holds at most; each keeps its plan in that backend's memory. */
export const MAX_PREPARED_PER_CONNECTION = 200;
/** Texts counted at most per process; past it the counts start again (a flood of distinct texts cannot grow it). */
const MAX_COUNTED = 5_000;

const runs = new Map<string, number>();

/**
 * Reads the process runs again and again become named (prepared) statements on each connection:
 * Postgres then parses and plans such a text once per connection, not once per run. Planning the
 * compiled chest read's one statement took about as long as running it (0.5 of 1.4 ms for 100
 * memories; issue 14); PostGraphile names every statement it runs the same way. Only `select`s
 * with parameters, after RUNS_BEFORE_PREPARING runs in this process, and at most
 * MAX_PREPARED_PER_CONNECTION per connection.
 *
 * The connection also plans them generically (plan_cache_mode): left to choose, Postgres kept
 * planning the compiled read anew at every run, because its first custom plans (made for the
 * parameters' values) looked cheaper than a generic one (pg_prepared_statements: 11 custom plans,
 * 0 generic). That cost Postgres 1.2 ms a request for a 10-memory chest, 0.5 ms with generic
 * plans (issue 14). It changes nothing else: only statements with parameters have plans to
 * choose between, and on these connections only executeParameterised sends parameters (MikroORM
 * writes its own into the text).
 *
 * A prepared plan is bound to the tables' shape: when a migration changes a table under a running
 * process, Postgres refuses the old plan ("cached plan must not change result type"). The
 * connection then stops preparing, and the statement runs again unnamed.
 */
export function prepareRepeatedReads(client: pg.ClientBase): void {
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
  const names = new Map<string, string>();
  let off = false;
  // Queued before anything the pool hands this connection out for; an optimisation, so a refusal is no failure.
  query('set plan_cache_mode = force_generic_plan').catch(() => undefined);
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (off || args.length !== 2 || typeof text !== 'string' || !Array.isArray(values) || values.length === 0) return query(...args);
    let name = names.get(text);
    if (!name) {
      if (!/^\s*select\s/i.test(text) || names.size >= MAX_PREPARED_PER_CONNECTION || counted(text) < RUNS_BEFORE_PREPARING) return query(...args);
      name = `dmc_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
      names.set(text, name);
    }
    return query({ name, text, values }).catch((err: unknown) => {
      if (!isStalePlan(err)) throw err;
      off = true;
      return query(text, values);
    });
  };
}

function counted(text: string): number {
  if (runs.size >= MAX_COUNTED && !runs.has(text)) runs.clear();
  const n = (runs.get(text) ?? 0) + 1;
  runs.set(text, n);
  return n;
}

/** Postgres's refusal of a prepared plan whose tables changed shape since it was prepared. */
function isStalePlan(err: unknown): boolean {
  return (err as { code?: string } | null)?.code === '0A000' && /cached plan must not change result type/.test((err as Error).message);
}
