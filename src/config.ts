import { resolve } from 'node:path';
import { z } from 'zod';

/**
 * The one configuration of API and worker, read from the environment once at start.
 * Every variable is documented in README.md ("Configuration"); a bad value stops startup
 * with a message naming the variable.
 */
const envSchema = z.object({
  /** PostgreSQL connection string; absent = embedded PGlite under DATA_DIR. */
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  /** Where the embedded database and files live. */
  DATA_DIR: z.string().min(1).default('./data'),
  /** HTTP listen address. Loopback by default: a family server is opened on purpose, not by accident. */
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(4000),
  /** Largest database connection pool per process (served mode; embedded uses one connection). */
  DB_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Upper bound on `first` in any connection. */
  MAX_PAGE_SIZE: z.coerce.number().int().min(1).max(1000).default(100),
  /** Seconds to wait for in-flight requests on SIGTERM before closing anyway. */
  SHUTDOWN_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(600).default(10),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  database: { mode: 'embedded'; dataDir: string } | { mode: 'postgres'; url: string; poolMax: number };
  dataDir: string;
  http: { host: string; port: number };
  logLevel: Env['LOG_LEVEL'];
  maxPageSize: number;
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Parses the environment; empty strings count as unset so `FOO=` in a .env file means "default". */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const dataDir = resolve(e.DATA_DIR);
  return {
    database: e.DATABASE_URL
      ? { mode: 'postgres', url: e.DATABASE_URL, poolMax: e.DB_POOL_MAX }
      : { mode: 'embedded', dataDir: resolve(dataDir, 'pgdata') },
    dataDir,
    http: { host: e.HOST, port: e.PORT },
    logLevel: e.LOG_LEVEL,
    maxPageSize: e.MAX_PAGE_SIZE,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
  };
}
