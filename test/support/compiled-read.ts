import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EntityManager } from '@mikro-orm/postgresql';
import { createStorage } from '../../src/storage/storage.registry.js';
import type { TestDatabase } from './db.js';
import { makeAccount } from './factories.js';
import { createGraphQLRunner, type GqlResult, type RunOptions } from './graphql.js';

/** The one statement a compiled read runs for the chest's lists (src/domain/one-statement.ts). */
export const isCompiledStatement = (sql: string): boolean => sql.startsWith('select (select coalesce(json_agg(q0__)');

/** An answer as JSON text (so key order counts), signed links without their expiring query string. */
export function normalised(result: GqlResult): string {
  return JSON.stringify(result, (_key, value) => (typeof value === 'string' && value.includes('/files/') ? value.split('?')[0] : value));
}

export type Runner = Awaited<ReturnType<typeof createGraphQLRunner>>;

/** Two in-process servers on one database and storage: with the compiled chest read, and graphql-js alone. */
export interface RunnerPair {
  compiled: Runner;
  executed: Runner;
  /** The same operation through both; `statements` are the compiled side's. */
  both(query: string, variables: Record<string, unknown>, as: RunOptions): Promise<{ fast: GqlResult; slow: GqlResult; statements: string[]; compiledRan: boolean }>;
  stop(): Promise<void>;
}

export async function runnerPair(db: TestDatabase): Promise<RunnerPair> {
  const storage = await createStorage({ kind: 'filesystem', root: await mkdtemp(join(tmpdir(), 'dmc-compiled-')) });
  const compiled = await createGraphQLRunner(db.orm, { storage });
  const executed = await createGraphQLRunner(db.orm, { storage, compiled: false });
  return {
    compiled,
    executed,
    async both(query, variables, as) {
      db.queries.length = 0;
      const fast = await compiled.run(query, variables, as);
      const statements = [...db.queries];
      const slow = await executed.run(query, variables, as);
      return { fast, slow, statements, compiledRan: statements.some(isCompiledStatement) };
    },
    async stop() {
      await compiled.stop();
      await executed.stop();
    },
  };
}

/** The accounts every comparison reads as: an owner, an editor, a viewer and a stranger (roles are the test's to give). */
export async function makeCast(em: EntityManager) {
  return { owner: await makeAccount(em), editor: await makeAccount(em), viewer: await makeAccount(em), stranger: await makeAccount(em) };
}

/** The rejections nobody handled while `work` ran (and a moment after): each would end a Node 24 process. */
export async function unhandledRejectionsDuring(work: () => Promise<void>): Promise<unknown[]> {
  const rejections: unknown[] = [];
  const theirs = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const mine = (reason: unknown) => void rejections.push(reason);
  process.on('unhandledRejection', mine);
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    process.off('unhandledRejection', mine);
    for (const listener of theirs) process.on('unhandledRejection', listener);
  }
  return rejections;
}
