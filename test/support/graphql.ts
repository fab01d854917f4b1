import { ApolloServer } from '@apollo/server';
import { GraphQLError } from 'graphql';
import type { MikroORM } from '@mikro-orm/postgresql';
import { pino } from 'pino';
import { type Context, createContext } from '../../src/graphql/context.js';
import { formatError } from '../../src/graphql/errors.js';
import { rateLimitPlugin } from '../../src/graphql/rate-limited.js';
import { compiledReadsPlugin } from '../../src/graphql/compiled/compiled-reads.plugin.js';
import { createSchema } from '../../src/graphql/schema.js';
import { loadConfig } from '../../src/config.js';
import type { ClientGuard } from '../../src/domain/rate-limit/client-guard.js';
import { type RateRules, RateLimiter } from '../../src/domain/rate-limit/rate-limiter.js';
import type { StorageBackend } from '../../src/storage/storage.port.js';
import { createStorage } from '../../src/storage/storage.registry.js';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import type { EventBus } from '../../src/events/events.port.js';
import type { JobQueue } from '../../src/jobs/jobs.port.js';
import { createPgBossQueue } from '../../src/jobs/pg-boss.queue.js';
import type { Logger } from '../../src/logger.js';
import type { SessionRevocations } from '../../src/domain/account/session-cache.js';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface GqlResult<T = Record<string, any>> {
  data?: T | null;
  errors?: { message: string; path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[];
}

/** Runs operations in-process through the same schema, context and error formatting as the server. */
export interface RunOptions {
  /** Bearer token of the caller; anonymous without. */
  token?: string | null;
  /** A view link's token, sent as the X-Share-Token header would be. */
  shareToken?: string | null;
  /** Client address, for rate limits. */
  clientAddress?: string;
}

/** The rate limits as configured by default, with `over` replacing some rules. */
export function testRateRules(over: Partial<RateRules> = {}): RateRules {
  return { ...loadConfig({}).rateLimits, ...over };
}

/** A limiter with the test key; `now` lets a test move time instead of sleeping. */
export function testLimiter(rules: RateRules = testRateRules(), now?: () => number): RateLimiter {
  return new RateLimiter('test-secret-key', rules, now);
}

/** For domain functions that take a guard, called directly by a test. */
export function testGuard(clientAddress = '127.0.0.1', limiter = testLimiter()): ClientGuard {
  return { limiter, clientAddress };
}

export async function createGraphQLRunner(
  orm: MikroORM,
  {
    maxPageSize = 100,
    perClientPerHour = 5,
    perLinkPerHour = 100,
    storage,
    events: bus,
    queue,
    limiter,
    sessions,
    log = pino({ level: 'silent' }),
    compiled = true,
  }: {
    maxPageSize?: number;
    perClientPerHour?: number;
    perLinkPerHour?: number;
    storage?: StorageBackend;
    events?: EventBus;
    queue?: JobQueue;
    /** Default: the configured default limits with the per-hour contribution limits above. */
    limiter?: RateLimiter;
    /** Where formatError logs unexpected errors (a test may record them); silent by default. */
    log?: Logger;
    /** A session cache as the server has one (default: none, every request looks its session up). */
    sessions?: SessionRevocations;
    /** The compiled chest read on, as on the server (graphql/compiled/); false: graphql-js answers everything. */
    compiled?: boolean;
  } = {},
) {
  const store = storage ?? (await createStorage({ kind: 'filesystem', root: await mkdtemp(join(tmpdir(), 'dmc-files-')) }));
  const events = bus ?? new InProcessEventBus();
  const jobs = queue ?? lazyQueue(orm, log);
  const server = new ApolloServer<Context>({
    schema: await createSchema(),
    formatError: formatError(log),
    includeStacktraceInErrorResponses: false,
    stopOnTerminationSignals: false,
    plugins: compiled ? [rateLimitPlugin, compiledReadsPlugin()] : [rateLimitPlugin],
  });
  await server.start();
  const rules = testRateRules({
    'contribution-client': { limit: perClientPerHour, windowMs: 3_600_000 },
    'contribution-link': { limit: perLinkPerHour, windowMs: 3_600_000 },
  });
  const limits = limiter ?? testLimiter(rules);
  let n = 0;
  return {
    async run<T = Record<string, any>>(query: string, variables?: Record<string, unknown>, opts: RunOptions = {}): Promise<GqlResult<T>> {
      const config = {
        maxPageSize,
        sessionTtlMs: 86_400_000,
        rateLimits: rules,
        secretKey: 'test-secret-key',
        trustProxyHops: 0,
        uploads: loadConfig({}).uploads,
      };
      let contextValue: Context;
      try {
        contextValue = await createContext(
          { orm, log, config, storage: store, events, queue: jobs, limiter: limits, sessions },
          {
            requestId: `test-${++n}`,
            authorization: opts.token ? `Bearer ${opts.token}` : null,
            shareToken: opts.shareToken ?? null,
            clientAddress: opts.clientAddress ?? '127.0.0.1',
          },
        );
      } catch (err) {
        // Over HTTP Apollo answers a failed context with this error (status 401 for bad tokens).
        if (err instanceof GraphQLError) {
          const { code, retryAfter } = err.extensions;
          return { errors: [{ message: err.message, extensions: { code, ...(retryAfter !== undefined && { retryAfter }) } }] };
        }
        throw err;
      }
      const res = await server.executeOperation({ query, variables }, { contextValue });
      if (res.body.kind !== 'single') throw new Error('unexpected incremental result');
      return res.body.singleResult as GqlResult<T>;
    },
    async stop() {
      await server.stop();
      if (!queue) await jobs.stop();
    },
  };
}

/** The real pg-boss queue on the test database, opened only by the tests that enqueue. */
function lazyQueue(orm: MikroORM, log: Logger): JobQueue {
  let opened: Promise<JobQueue> | undefined;
  const get = () =>
    (opened ??= createPgBossQueue({ orm, supervise: false, log }));
  return {
    backend: 'pg-boss-embedded',
    enqueue: async (tx, name, data) => {
      // On one connection (PGlite) the queue's start-up queries would wait behind this very
      // transaction for ever: fail with the remedy instead of hanging.
      if (!opened && orm.config.get('pool')?.max === 1) {
        throw new Error(`test rig: ${name} enqueued inside a transaction before the queue started; on PGlite pass createGraphQLRunner a queue started first (createPgBossQueue), as the product starts it`);
      }
      return (await get()).enqueue(tx, name, data);
    },
    work: async (name, options, handler) => (await get()).work(name, options, handler),
    unfinishedFor: async (name, ids, tx) => (await get()).unfinishedFor(name, ids, tx),
    counts: async (name) => (await get()).counts(name),
    stop: async (options) => {
      if (opened) await (await opened).stop(options);
    },
  };
}

/** The data of a result that must have succeeded. */
export function ok<T>(res: GqlResult<T>): T {
  if (res.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
  return res.data as T;
}

/** The single error of a result that must have failed. */
export function failure(res: GqlResult): { code: unknown; field: unknown; message: string } {
  if (!res.errors?.length) throw new Error(`expected an error, got ${JSON.stringify(res.data)}`);
  const e = res.errors[0]!;
  return { code: e.extensions?.code, field: e.extensions?.field, message: e.message };
}
