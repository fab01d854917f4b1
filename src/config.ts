import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { FileType } from './db/enums.js';
import { type GraphQLSettings, QUERY_LIMIT_DEFAULTS as Q } from './graphql/limits/query-limits.js';
import type { AiSettings } from './ai/ai.settings.js';
import type { RateRules } from './domain/rate-limit/rate-limiter.js';
import type { RetryPolicy } from './jobs/jobs.port.js';
import type { ParseLimits } from './media/sandbox/limits.js';
import type { MediaToolLimits } from './media/ffmpeg.js';
import { type KillPoint, parseKillPoint, UPLOAD_STEPS } from './domain/upload/upload-faults.js';
import type { S3StorageConfig } from './storage/storage.registry.js';
import type { MetricsSettings } from './metrics/http.js';
import type { TracingSettings } from './tracing/tracing.js';

/**
 * The one configuration of API and worker, read from the environment once at start.
 * Every variable is documented in docs/configuration.md ("Variables"); a bad value stops startup
 * with a message naming the variable.
 */
/** A whole number written in plain digits: "", " ", "0x10" and "1e3" are mistakes, not numbers. */
const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.string().trim().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const bool = z.enum(['true', 'false'], { error: 'must be true or false' }).transform((v) => v === 'true');

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
  PORT: int(0, 65535).default(4000),
  /** Largest database connection pool per process (served mode; embedded uses one connection). */
  DB_POOL_MAX: int(1, 100).default(10),
  /**
   * Served mode: the reads requests repeat become named statements, planned once per connection
   * (db/prepared-statements.ts). false behind a pooler in transaction mode that cannot carry them
   * (PgBouncer before 1.21, or without max_prepared_statements).
   */
  DB_PREPARED_STATEMENTS: bool.default(true),
  /**
   * Served mode: seconds a request waits for a pooled database connection (or a new one to
   * connect) before it is answered 503 SERVICE_UNAVAILABLE.
   */
  DB_ACQUIRE_TIMEOUT_SECONDS: int(1, 600).default(10),
  /**
   * Served mode: seconds one SQL statement may run (Postgres statement_timeout; the client stops
   * waiting for an answer 1 s later), and a transaction may sit idle (idle_in_transaction_session_timeout).
   * 0: no limit. Migrations and the job queue's own connections are not bound by it.
   */
  DB_STATEMENT_TIMEOUT_SECONDS: int(0, 86_400).default(30),
  /**
   * Served mode: seconds between the event bus's checks of its LISTEN connection (it repeats the LISTEN); one
   * unanswered by the next check means a silent connection, which is replaced.
   */
  EVENT_LISTENER_HEARTBEAT_SECONDS: int(1, 3600).default(10),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Upper bound on `first` in any connection. */
  MAX_PAGE_SIZE: int(1, 1000).default(100),
  /**
   * Query limits, checked before validation (docs/api.md "Query limits"); each refusal is QUERY_TOO_COMPLEX.
   * Length and tokens are capped so that reading the largest document allowed stays well under
   * 100 ms of blocked event loop (graphql-js needs ~5 µs a token, and long block strings are slow).
   */
  GRAPHQL_MAX_LENGTH: int(100, 200_000).default(Q.length),
  GRAPHQL_MAX_TOKENS: int(10, 10_000).default(Q.tokens),
  GRAPHQL_MAX_DEPTH: int(2, 100).default(Q.depth),
  GRAPHQL_MAX_ALIASES: int(0, 10_000).default(Q.aliases),
  GRAPHQL_MAX_DIRECTIVES: int(0, 10_000).default(Q.directives),
  GRAPHQL_MAX_REPEATED_FIELDS: int(1, 1000).default(Q.repeatedFields),
  GRAPHQL_MAX_COST: int(1, 100_000_000).default(Q.cost),
  /** Answer __schema/__type; unset: on in the embedded mode (the explorer needs it), off when served. */
  GRAPHQL_INTROSPECTION: bool.optional(),
  /** "Did you mean …" in validation errors; unset: only with NODE_ENV=development. */
  GRAPHQL_SUGGESTIONS: bool.optional(),
  NODE_ENV: z.string().optional(),
  /** Days a sign-in session lasts. */
  SESSION_TTL_DAYS: int(1, 365).default(30),
  /**
   * Seconds an API process believes a session it found live without asking the database again;
   * the bound on a sign-out reaching another process whose revocation notice was lost. 0: ask every time.
   */
  SESSION_CACHE_SECONDS: int(0, 60).default(5),
  /** Guest contributions per link per client address per hour. */
  CONTRIBUTIONS_PER_CLIENT_PER_HOUR: int(1, 10_000).default(5),
  /** Guest contributions per link per hour, all clients together. */
  CONTRIBUTIONS_PER_LINK_PER_HOUR: int(1, 100_000).default(100),
  /** Failed sign-ins per account before each further attempt waits 2^n seconds. */
  SIGNIN_FREE_FAILURES: int(1, 1000).default(5),
  /** Failed sign-ins per client address before the same growing delay. */
  SIGNIN_FAILURES_PER_CLIENT: int(1, 100_000).default(30),
  /** Sign-in failures are counted in windows this long: no delay lasts beyond the window's end. */
  SIGNIN_LOCKOUT_MINUTES: int(1, 24 * 60).default(15),
  /** signUp requests per client address per hour. */
  SIGNUPS_PER_CLIENT_PER_HOUR: int(1, 100_000).default(10),
  /** Failed share, contribution, guest and upload token lookups per client address per window. */
  TOKEN_FAILURES_PER_CLIENT: int(1, 100_000).default(20),
  /** Minutes those failures are counted for; past the limit, token lookups wait for the window's end. */
  TOKEN_FAILURE_WINDOW_MINUTES: int(1, 24 * 60).default(15),
  /** Trust X-Forwarded-For from this many proxy hops (0 = use the socket address). */
  TRUST_PROXY_HOPS: int(0, 10).default(0),
  /**
   * Web apps on other origins that may call the API from a browser (CORS), comma-separated exact
   * origins such as `https://family.example,http://localhost:5173`. Unset: none (same origin only).
   */
  CORS_ORIGINS: z
    .string()
    .trim()
    .transform((v, ctx) => {
      const origins = v.split(',').map((o) => o.trim()).filter(Boolean);
      for (const o of origins) {
        if (!isOrigin(o)) ctx.addIssue({ code: 'custom', message: `"${o}" is not an origin: scheme://host[:port], no path, no "*"` });
      }
      return origins;
    })
    .optional(),
  /**
   * Signs download links and keys rate-limit counters. Required in served mode (the same value in
   * every process); the embedded mode keeps its own in DATA_DIR/secret.key (see secret-key.ts).
   */
  SECRET_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * Where files go. Unset: "s3" when S3_ENDPOINT is set, else "filesystem" (DATA_DIR/files).
   * "memory" keeps them in RAM and loses them on exit: for tests and throwaway dev runs only, so
   * served mode (DATABASE_URL) refuses it.
   */
  STORAGE_DRIVER: z.enum(['filesystem', 's3', 'memory'], { error: 'must be filesystem, s3 or memory' }).optional(),
  /** S3-compatible object storage (MinIO, AWS, ...). Unset: files under DATA_DIR/files. */
  S3_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  S3_ACCESS_KEY: z.string().min(1).optional(),
  S3_SECRET_KEY: z.string().min(1).optional(),
  S3_BUCKET: z.string().min(3).max(63).default('memory-chest'),
  S3_REGION: z.string().min(1).default('us-east-1'),
  /**
   * Served mode with S3: seconds a storage request may go without a byte from the server before it
   * is abandoned as unavailable (503). Silence, not duration: large files flow as long as bytes do.
   */
  STORAGE_TIMEOUT_SECONDS: int(1, 3600).default(30),
  /** Largest file per kind, in MiB. */
  MAX_IMAGE_MB: int(1).default(50),
  MAX_AUDIO_MB: int(1).default(500),
  MAX_VIDEO_MB: int(1).default(4096),
  MAX_DOCUMENT_MB: int(1).default(100),
  /** Hours an upload ticket stays valid. */
  UPLOAD_TTL_HOURS: int(1, 24 * 30).default(48),
  /** Seconds a PATCH holds its ticket without renewing: a resume after a crash waits at most this. */
  UPLOAD_LEASE_SECONDS: int(1, 3600).default(15),
  /** Test-only (the crash drill, RELIABILITY.md): "<step>[:<passes>]" SIGKILLs the API at that upload step. */
  UPLOAD_DRILL_KILL_AT: z
    .string()
    .optional()
    .refine((v) => v === undefined || parseKillPoint(v) !== null, { message: `must be one of ${UPLOAD_STEPS.join(', ')}, optionally followed by :<passes>` }),
  /** Minutes between storage consistency sweeps (0: never). */
  SWEEP_INTERVAL_MINUTES: int(0, 7 * 24 * 60).default(60),
  /** Days chest events are kept for chestEvents catch-up. */
  EVENT_RETENTION_DAYS: int(1, 3650).default(30),
  /** Assets a worker process handles at once (embedded: inside npm start). */
  WORKER_CONCURRENCY: int(1, 64).default(Math.max(1, Math.floor(availableParallelism() / 2))),
  /**
   * Where jobs wait. Unset: "postgres" (pg-boss, in the database). "memory" holds them in this
   * process and loses them on exit: for tests and single-process dev runs only, so served mode
   * (DATABASE_URL) refuses it.
   */
  JOB_QUEUE: z.enum(['postgres', 'memory'], { error: 'must be postgres or memory' }).default('postgres'),
  /** Retries of a failed processing attempt before the asset is marked FAILED. */
  JOB_RETRY_LIMIT: int(0, 20).default(3),
  /** Seconds before the first retry; doubles each time (with jitter), up to JOB_RETRY_DELAY_MAX_SECONDS. */
  JOB_RETRY_DELAY_SECONDS: int(1, 3600).default(5),
  /**
   * The longest wait between attempts. It also bounds how soon a dead worker's job runs again:
   * heartbeat + supervision + this, so the defaults (20 + 10 + 25) stay under a minute.
   */
  JOB_RETRY_DELAY_MAX_SECONDS: int(1, 3600).default(25),
  /** A job whose worker has not sent a heartbeat for this long is given to another worker. */
  JOB_HEARTBEAT_SECONDS: int(10, 600).default(20),
  /** Seconds between the queue's supervision passes (finding silent jobs, retrying them). */
  JOB_SUPERVISE_SECONDS: int(1, 600).default(10),
  /**
   * Parsing of untrusted files (photos, PDF and DOCX text, the AI step's picture reads) runs in a
   * child process with this much V8 heap, MiB, this much memory besides (decoded pixels, native
   * buffers; a kernel cap through util-linux `prlimit --data`, 0: none), and for at most this
   * long; a file that needs more fails with a reason, never retried.
   */
  SANDBOX_MEMORY_MB: int(64, 65_536).default(1024),
  SANDBOX_NATIVE_MEMORY_MB: int(0, 65_536).default(1536),
  SANDBOX_TIMEOUT_SECONDS: int(1, 86_400).default(600),
  /**
   * Address space of each ffmpeg and ffprobe process, MiB (set with util-linux `prlimit`; 0: no
   * cap). A file whose decoding needs more fails with a reason, never retried.
   */
  MEDIA_TOOL_MEMORY_MB: int(0, 65_536).default(3072),
  /** Checked in a DOCX's ZIP directory before anything is inflated (docs/processing.md "Hostile files"). */
  ARCHIVE_MAX_ENTRIES: int(1, 1_000_000).default(10_000),
  /** Sum of the sizes the entries declare, unpacked, MiB. */
  ARCHIVE_MAX_UNPACKED_MB: int(1, 1_048_576).default(1024),
  /** Largest unpacked / packed size of one entry over 1 MiB. */
  ARCHIVE_MAX_RATIO: int(1, 1_000_000).default(100),
  /** Largest XML part (word/document.xml, ...), unpacked, MiB. */
  ARCHIVE_MAX_XML_MB: int(1, 4096).default(32),
  /** Deepest element nesting and most elements in one XML part, counted as it is inflated before mammoth reads it. */
  ARCHIVE_MAX_XML_DEPTH: int(8, 100_000).default(256),
  ARCHIVE_MAX_XML_ELEMENTS: int(1000, 100_000_000).default(1_000_000),
  /** A worker process answers /healthz and /readyz on this port (unset: no HTTP at all; 0: any free port). */
  WORKER_HEALTH_PORT: int(0, 65535).optional(),
  /** "off": no /metrics on the API port nor the worker's health port. */
  METRICS: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  /** When set, /metrics wants `Authorization: Bearer <this>` (docs/operations.md "Metrics"). */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** OpenTelemetry tracing (tracing/tracing.ts): unset, none. The base URL of an OTLP/HTTP collector; spans go to <this>/v1/traces. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** The full URL for spans, instead of OTEL_EXPORTER_OTLP_ENDPOINT's /v1/traces. */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).optional(),
  /** The service name on spans; default memory-chest-api / memory-chest-worker. */
  OTEL_SERVICE_NAME: z.string().trim().min(1).max(100).optional(),
  /** AI providers to try, in order, for each task ("prefer local, fall back to the API": local,openai). */
  AI_PROVIDERS: z
    .string()
    .trim()
    .regex(/^[a-z][a-z0-9-]*(\s*,\s*[a-z][a-z0-9-]*)*$/, 'must be provider names separated by commas, e.g. "local,openai"')
    .default('local'),
  /** Any OpenAI-compatible server: OpenAI, Ollama (http://host:11434/v1), LocalAI, vLLM, ... */
  OPENAI_BASE_URL: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }).default('https://api.openai.com/v1'),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_TRANSCRIBE_MODEL: z.string().min(1).default('whisper-1'),
  OPENAI_VISION_MODEL: z.string().min(1).default('gpt-4o-mini'),
  OPENAI_STORY_MODEL: z.string().min(1).default('gpt-4o-mini'),
  /**
   * Most tokens one story request to the openai provider may take, prompt and answer together: the
   * story model's context window or less (Ollama: its num_ctx). A chest that does not fit one
   * request is written in stages (summaries per period, then the book) within it.
   */
  AI_STORY_TOKEN_BUDGET: int(4000, 10_000_000).default(32_000),
  /** "off": no picture is described (no object model is loaded, nothing is sent to a vision service); scans are still read. */
  AI_VISION: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  /** Seconds one AI request may take (stories stream for a while). */
  AI_TIMEOUT_SECONDS: int(1, 3600).default(300),
  /** Retries of a rate-limited (429) or failed (5xx, connection) AI request, with backoff. */
  AI_MAX_RETRIES: int(0, 10).default(3),
  /** whisper.cpp for offline transcription: the CLI binary and a ggml model file. */
  WHISPER_CPP_PATH: z.string().min(1).optional(),
  WHISPER_MODEL_PATH: z.string().min(1).optional(),
  /** Memory whisper.cpp may allocate per recording, MiB (prlimit --data; 0: no cap), and how long one may take. */
  WHISPER_MEMORY_MB: int(0, 262_144).default(6144),
  WHISPER_TIMEOUT_SECONDS: int(1, 86_400).default(3600),
  /**
   * pocketsphinx, the rough offline recogniser used when whisper.cpp is not configured:
   * `pocketsphinx_continuous` (unset: the one on PATH, if any; "off": never used) and its model
   * folder (unset: Debian's pocketsphinx-en-us), with the memory and time one recording may take.
   */
  POCKETSPHINX_PATH: z.string().min(1).optional(),
  POCKETSPHINX_MODEL_DIR: z.string().min(1).optional(),
  POCKETSPHINX_MEMORY_MB: int(0, 262_144).default(512),
  POCKETSPHINX_TIMEOUT_SECONDS: int(1, 86_400).default(3600),
  /** Seconds to wait for in-flight requests on SIGTERM before closing anyway. */
  SHUTDOWN_TIMEOUT_SECONDS: int(1, 600).default(10),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  database: { mode: 'embedded'; dataDir: string } | { mode: 'postgres'; url: string; poolMax: number; preparedStatements: boolean; timeouts: DatabaseTimeouts };
  dataDir: string;
  http: { host: string; port: number };
  logLevel: Env['LOG_LEVEL'];
  maxPageSize: number;
  graphql: GraphQLSettings;
  shutdownTimeoutMs: number;
  sessionTtlMs: number;
  /** SESSION_CACHE_SECONDS in ms (domain/account/session-cache.ts). */
  sessionCacheMs: number;
  /** Every rate limit (sign-in, sign-up, token guesses, contributions), by bucket. */
  rateLimits: RateRules;
  trustProxyHops: number;
  /** CORS_ORIGINS: browser origins allowed to call the API (http/cors.ts); empty: none. */
  corsOrigins: string[];
  /** SECRET_KEY, or the embedded mode's DATA_DIR/secret.key (resolveSecretKey fills it in). */
  secretKey: string;
  storage: { kind: 'filesystem'; root: string } | S3Config | { kind: 'memory' };
  uploads: { maxBytes: Record<FileType, number>; ttlMs: number; leaseMs: number; drillKillAt: KillPoint | null };
  /** 0 disables the periodic sweep. */
  sweepIntervalMs: number;
  eventRetentionMs: number;
  /** /metrics on the API and the worker's health port (metrics/http.ts). */
  metrics: MetricsSettings;
  /** OpenTelemetry spans, when an OTLP endpoint is set (tracing/tracing.ts). */
  tracing: TracingSettings;
  ai: AiSettings;
  jobs: {
    /** 'memory' only for tests and dev (jobs/memory.queue.ts). */
    queue: 'postgres' | 'memory';
    concurrency: number;
    retry: Pick<RetryPolicy, 'retryLimit' | 'retryDelaySeconds' | 'retryDelayMaxSeconds' | 'heartbeatSeconds'>;
    superviseIntervalSeconds: number;
    /** Worker processes only: where /healthz and /readyz answer (null: nowhere). */
    healthPort: number | null;
    /** Bounds on parsing untrusted files: the sandbox's heap and time, the archives it opens. */
    parseLimits: ParseLimits;
    /** Every ffmpeg/ffprobe process (media/ffmpeg.ts). */
    mediaTools: MediaToolLimits;
  };
}

/** Bounds on waiting for the database (served mode), so an outage answers 503 instead of hanging. */
export interface DatabaseTimeouts {
  acquireMs: number;
  /** 0: none. */
  statementMs: number;
  /** The event bus's heartbeat on its LISTEN connection (postgres.events.ts). */
  listenerHeartbeatMs: number;
}

/** S3 settings, in the shape the storage registry takes. */
export type S3Config = S3StorageConfig & { region: string };

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * What loadConfig can know without touching the disk: in the embedded mode without SECRET_KEY the
 * key is still to be read from (or made in) DATA_DIR/secret.key by resolveSecretKey at start.
 */
export type LoadedConfig = Omit<Config, 'secretKey'> & { secretKey: string | null };

/**
 * Parses the environment; empty strings count as unset so `FOO=` in a .env file means "default".
 * Pure: the embedded key file is resolveSecretKey's business (src/secret-key.ts).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  // Replicas must agree on it (links signed by one are checked by another), and a per-process
  // random key would reset every limit on restart: served mode never makes one up.
  if (e.DATABASE_URL && !e.SECRET_KEY) {
    throw new ConfigError(['SECRET_KEY: required when DATABASE_URL is set; give every API and worker process the same value of at least 32 characters (e.g. `openssl rand -hex 32`)']);
  }
  if (e.DATABASE_URL && e.JOB_QUEUE === 'memory') {
    throw new ConfigError(['JOB_QUEUE: memory is for tests and dev only; with DATABASE_URL (served mode) the workers would never see the API\'s jobs']);
  }
  const dataDir = resolve(e.DATA_DIR);
  return {
    database: e.DATABASE_URL
      ? {
          mode: 'postgres',
          url: e.DATABASE_URL,
          poolMax: e.DB_POOL_MAX,
          preparedStatements: e.DB_PREPARED_STATEMENTS,
          timeouts: { acquireMs: e.DB_ACQUIRE_TIMEOUT_SECONDS * 1000, statementMs: e.DB_STATEMENT_TIMEOUT_SECONDS * 1000, listenerHeartbeatMs: e.EVENT_LISTENER_HEARTBEAT_SECONDS * 1000 },
        }
      : { mode: 'embedded', dataDir: resolve(dataDir, 'pgdata') },
    dataDir,
    http: { host: e.HOST, port: e.PORT },
    logLevel: e.LOG_LEVEL,
    maxPageSize: e.MAX_PAGE_SIZE,
    graphql: graphqlSettings(e),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_SECONDS * 1000,
    sessionTtlMs: e.SESSION_TTL_DAYS * 86_400_000,
    sessionCacheMs: e.SESSION_CACHE_SECONDS * 1000,
    rateLimits: rateRules(e),
    trustProxyHops: e.TRUST_PROXY_HOPS,
    corsOrigins: e.CORS_ORIGINS ?? [],
    secretKey: e.SECRET_KEY ?? null,
    storage: storageConfig(e, dataDir),
    uploads: {
      maxBytes: {
        [FileType.IMAGE]: e.MAX_IMAGE_MB * MiB,
        [FileType.AUDIO]: e.MAX_AUDIO_MB * MiB,
        [FileType.VIDEO]: e.MAX_VIDEO_MB * MiB,
        [FileType.DOCUMENT]: e.MAX_DOCUMENT_MB * MiB,
      },
      ttlMs: e.UPLOAD_TTL_HOURS * 3_600_000,
      leaseMs: e.UPLOAD_LEASE_SECONDS * 1000,
      drillKillAt: e.UPLOAD_DRILL_KILL_AT ? parseKillPoint(e.UPLOAD_DRILL_KILL_AT) : null,
    },
    sweepIntervalMs: e.SWEEP_INTERVAL_MINUTES * 60_000,
    eventRetentionMs: e.EVENT_RETENTION_DAYS * 86_400_000,
    metrics: { enabled: e.METRICS === 'on', token: e.METRICS_TOKEN ?? null },
    tracing: {
      tracesUrl: e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (e.OTEL_EXPORTER_OTLP_ENDPOINT ? `${e.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces` : null),
      serviceName: e.OTEL_SERVICE_NAME ?? null,
    },
    ai: {
      providers: e.AI_PROVIDERS.split(',').map((p) => p.trim()),
      vision: e.AI_VISION === 'on',
      openai: {
        baseURL: e.OPENAI_BASE_URL,
        apiKey: e.OPENAI_API_KEY ?? null,
        models: { transcribe: e.OPENAI_TRANSCRIBE_MODEL, vision: e.OPENAI_VISION_MODEL, story: e.OPENAI_STORY_MODEL },
        timeoutMs: e.AI_TIMEOUT_SECONDS * 1000,
        maxRetries: e.AI_MAX_RETRIES,
        storyTokenBudget: e.AI_STORY_TOKEN_BUDGET,
      },
      whisper: { binary: e.WHISPER_CPP_PATH ?? null, model: e.WHISPER_MODEL_PATH ?? null, memoryMb: e.WHISPER_MEMORY_MB, timeoutMs: e.WHISPER_TIMEOUT_SECONDS * 1000 },
      pocketsphinx:
        e.POCKETSPHINX_PATH === 'off'
          ? undefined
          : { binary: e.POCKETSPHINX_PATH ?? null, modelDir: e.POCKETSPHINX_MODEL_DIR ?? null, memoryMb: e.POCKETSPHINX_MEMORY_MB, timeoutMs: e.POCKETSPHINX_TIMEOUT_SECONDS * 1000 },
      cacheDir: resolve(dataDir, 'cache'),
    },
    jobs: {
      queue: e.JOB_QUEUE,
      concurrency: e.WORKER_CONCURRENCY,
      retry: {
        retryLimit: e.JOB_RETRY_LIMIT,
        retryDelaySeconds: e.JOB_RETRY_DELAY_SECONDS,
        retryDelayMaxSeconds: Math.max(e.JOB_RETRY_DELAY_MAX_SECONDS, e.JOB_RETRY_DELAY_SECONDS),
        heartbeatSeconds: e.JOB_HEARTBEAT_SECONDS,
      },
      superviseIntervalSeconds: e.JOB_SUPERVISE_SECONDS,
      healthPort: e.WORKER_HEALTH_PORT ?? null,
      mediaTools: { memoryMb: e.MEDIA_TOOL_MEMORY_MB },
      parseLimits: {
        sandbox: { memoryMb: e.SANDBOX_MEMORY_MB, nativeMemoryMb: e.SANDBOX_NATIVE_MEMORY_MB, timeoutMs: e.SANDBOX_TIMEOUT_SECONDS * 1000 },
        archive: {
          maxEntries: e.ARCHIVE_MAX_ENTRIES,
          maxUnpackedBytes: e.ARCHIVE_MAX_UNPACKED_MB * MiB,
          maxRatio: e.ARCHIVE_MAX_RATIO,
          maxXmlBytes: e.ARCHIVE_MAX_XML_MB * MiB,
          maxXmlDepth: e.ARCHIVE_MAX_XML_DEPTH,
          maxXmlElements: e.ARCHIVE_MAX_XML_ELEMENTS,
        },
      },
    },
  };
}

const MiB = 1024 * 1024;

/** An origin as browsers send it: http(s), a host, maybe a port, nothing after. */
function isOrigin(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value;
  } catch {
    return false;
  }
}

function graphqlSettings(e: Env): GraphQLSettings {
  return {
    limits: {
      length: e.GRAPHQL_MAX_LENGTH,
      tokens: e.GRAPHQL_MAX_TOKENS,
      depth: e.GRAPHQL_MAX_DEPTH,
      aliases: e.GRAPHQL_MAX_ALIASES,
      directives: e.GRAPHQL_MAX_DIRECTIVES,
      repeatedFields: e.GRAPHQL_MAX_REPEATED_FIELDS,
      cost: e.GRAPHQL_MAX_COST,
    },
    introspection: e.GRAPHQL_INTROSPECTION ?? !e.DATABASE_URL,
    suggestions: e.GRAPHQL_SUGGESTIONS ?? e.NODE_ENV === 'development',
  };
}

function rateRules(e: Env): RateRules {
  const signIn = e.SIGNIN_LOCKOUT_MINUTES * 60_000;
  const tokens = { limit: e.TOKEN_FAILURES_PER_CLIENT, windowMs: e.TOKEN_FAILURE_WINDOW_MINUTES * 60_000 };
  return {
    'signin-account': { limit: e.SIGNIN_FREE_FAILURES, windowMs: signIn, backoff: true },
    'signin-client': { limit: e.SIGNIN_FAILURES_PER_CLIENT, windowMs: signIn, backoff: true },
    'signup-client': { limit: e.SIGNUPS_PER_CLIENT_PER_HOUR, windowMs: 3_600_000 },
    'share-token': tokens,
    'contribution-token': tokens,
    'guest-token': tokens,
    'upload-secret': tokens,
    'contribution-client': { limit: e.CONTRIBUTIONS_PER_CLIENT_PER_HOUR, windowMs: 3_600_000 },
    'contribution-link': { limit: e.CONTRIBUTIONS_PER_LINK_PER_HOUR, windowMs: 3_600_000 },
  };
}

function storageConfig(e: Env, dataDir: string): Config['storage'] {
  const driver = e.STORAGE_DRIVER ?? (e.S3_ENDPOINT ? 's3' : 'filesystem');
  if (driver === 'memory' && e.DATABASE_URL) {
    throw new ConfigError(['STORAGE_DRIVER: memory is for tests and dev only; with DATABASE_URL (served mode) the files of one process would be invisible to the others and lost on restart']);
  }
  if (driver === 's3' && !e.S3_ENDPOINT) throw new ConfigError(['S3_ENDPOINT: required when STORAGE_DRIVER is s3']);
  if (driver === 'memory') return { kind: 'memory' };
  return driver === 's3' ? s3Config(e) : { kind: 'filesystem', root: resolve(dataDir, 'files') };
}

function s3Config(e: Env): S3Config {
  const missing = (['S3_ACCESS_KEY', 'S3_SECRET_KEY'] as const).filter((k) => !e[k]);
  if (missing.length) throw new ConfigError(missing.map((k) => `${k}: required when S3_ENDPOINT is set`));
  const url = new URL(e.S3_ENDPOINT!);
  const useSSL = url.protocol === 'https:';
  return {
    kind: 's3',
    endPoint: url.hostname,
    port: url.port ? Number(url.port) : useSSL ? 443 : 80,
    useSSL,
    accessKey: e.S3_ACCESS_KEY!,
    secretKey: e.S3_SECRET_KEY!,
    region: e.S3_REGION,
    bucket: e.S3_BUCKET,
    timeoutMs: e.STORAGE_TIMEOUT_SECONDS * 1000,
  };
}
