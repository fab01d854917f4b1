import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { DEFAULT_MEDIA_TOOL_LIMITS } from '../src/media/ffmpeg.js';
import { DEFAULT_PARSE_LIMITS } from '../src/media/sandbox/limits.js';

describe('loadConfig', () => {
  it('defaults to the embedded database under ./data on loopback', () => {
    const c = loadConfig({});
    expect(c.database.mode).toBe('embedded');
    expect(c.database).toMatchObject({ dataDir: expect.stringMatching(/data[/\\]pgdata$/) });
    expect(c.http).toEqual({ host: '127.0.0.1', port: 4000 });
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    const c = loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/chest', DB_POOL_MAX: '7', SECRET_KEY: 'k'.repeat(32) });
    expect(c.database).toEqual({ mode: 'postgres', url: 'postgresql://u@db:5432/chest', poolMax: 7, preparedStatements: true, timeouts: { acquireMs: 10_000, statementMs: 30_000, listenerHeartbeatMs: 10_000 } });
    expect(c.secretKey).toBe('k'.repeat(32));
  });

  it('prepared statements: on unless DB_PREPARED_STATEMENTS=false (a pooler that cannot carry them)', () => {
    const base = { DATABASE_URL: 'postgresql://u@db:5432/chest', SECRET_KEY: 'k'.repeat(32) };
    expect(loadConfig({ ...base, DB_PREPARED_STATEMENTS: 'false' }).database).toMatchObject({ preparedStatements: false });
    expect(() => loadConfig({ ...base, DB_PREPARED_STATEMENTS: 'no' })).toThrow(/DB_PREPARED_STATEMENTS: must be true or false/);
  });

  it('bounds waits on the database (served mode): acquire and statement timeouts, 0 = no statement limit', () => {
    const base = { DATABASE_URL: 'postgresql://u@db:5432/chest', SECRET_KEY: 'k'.repeat(32) };
    expect(loadConfig({ ...base, DB_ACQUIRE_TIMEOUT_SECONDS: '2', DB_STATEMENT_TIMEOUT_SECONDS: '0' }).database).toMatchObject({ timeouts: { acquireMs: 2000, statementMs: 0 } });
    expect(() => loadConfig({ ...base, DB_ACQUIRE_TIMEOUT_SECONDS: '0' })).toThrow(/DB_ACQUIRE_TIMEOUT_SECONDS/);
  });

  it('refuses served mode without SECRET_KEY, naming it (replicas must share one; none is made up)', () => {
    const attempt = () => loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/chest' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/SECRET_KEY: required when DATABASE_URL is set/);
  });

  it('leaves the embedded key to resolveSecretKey (DATA_DIR/secret.key) unless SECRET_KEY is set', () => {
    expect(loadConfig({}).secretKey).toBeNull();
    expect(loadConfig({ SECRET_KEY: 's'.repeat(40) }).secretKey).toBe('s'.repeat(40));
  });

  it('builds the rate limits from their variables', () => {
    const r = loadConfig({ SIGNIN_FREE_FAILURES: '3', SIGNIN_LOCKOUT_MINUTES: '10', TOKEN_FAILURES_PER_CLIENT: '7', TOKEN_FAILURE_WINDOW_MINUTES: '2', SIGNUPS_PER_CLIENT_PER_HOUR: '4' }).rateLimits;
    expect(r['signin-account']).toEqual({ limit: 3, windowMs: 600_000, backoff: true });
    expect(r['signin-client']).toEqual({ limit: 30, windowMs: 600_000, backoff: true });
    expect(r['share-token']).toEqual({ limit: 7, windowMs: 120_000 });
    expect(r['upload-secret']).toEqual(r['guest-token']);
    expect(r['signup-client']).toEqual({ limit: 4, windowMs: 3_600_000 });
    expect(r['contribution-client']).toEqual({ limit: 5, windowMs: 3_600_000 });
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ DATABASE_URL: '', PORT: '' }).database.mode).toBe('embedded');
  });

  it.each([
    ['PORT', 'http'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://root@localhost/x'],
    ['LOG_LEVEL', 'loud'],
    ['MAX_PAGE_SIZE', '0'],
    ['SECRET_KEY', 'too-short'],
    ['TRUST_PROXY_HOPS', '-1'],
    ['SIGNIN_LOCKOUT_MINUTES', '0'],
    ['TOKEN_FAILURES_PER_CLIENT', 'many'],
    ['SESSION_TTL_DAYS', '0'],
    ['PORT', ' '],
    ['PORT', '0x10'],
    ['PORT', '1e3'],
    ['S3_ENDPOINT', 'ftp://x'],
  ])('rejects a bad %s (%s) naming the variable', (name, value) => {
    const attempt = () => loadConfig({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`${name}:`));
  });
});

describe('loadConfig: storage', () => {
  it('keeps files under DATA_DIR/files by default', () => {
    expect(loadConfig({ DATA_DIR: '/srv/chest' }).storage).toEqual({ kind: 'filesystem', root: '/srv/chest/files' });
  });

  it('uses S3 when S3_ENDPOINT is set, and then needs both keys', () => {
    const c = loadConfig({ S3_ENDPOINT: 'https://minio.local:9000', S3_ACCESS_KEY: 'a', S3_SECRET_KEY: 'b' });
    expect(c.storage).toMatchObject({ kind: 's3', endPoint: 'minio.local', port: 9000, useSSL: true, bucket: 'memory-chest' });
    expect(() => loadConfig({ S3_ENDPOINT: 'http://127.0.0.1:9000' })).toThrow(/S3_ACCESS_KEY: required/);
  });

  it('keeps files in memory only when asked, and never in served mode', () => {
    expect(loadConfig({ STORAGE_DRIVER: 'memory' }).storage).toEqual({ kind: 'memory' });
    expect(() => loadConfig({ STORAGE_DRIVER: 'memory', DATABASE_URL: 'postgres://x/y', SECRET_KEY: 'k'.repeat(32) })).toThrow(/STORAGE_DRIVER: memory is for tests and dev only/);
    expect(() => loadConfig({ STORAGE_DRIVER: 's3' })).toThrow(/S3_ENDPOINT: required when STORAGE_DRIVER is s3/);
    expect(() => loadConfig({ STORAGE_DRIVER: 'ram' })).toThrow(/STORAGE_DRIVER: must be filesystem, s3 or memory/);
    expect(loadConfig({ STORAGE_DRIVER: 'filesystem', DATA_DIR: '/srv/c' }).storage).toEqual({ kind: 'filesystem', root: '/srv/c/files' });
  });

  it('queues jobs in memory only when asked, and never in served mode', () => {
    expect(loadConfig({}).jobs.queue).toBe('postgres');
    expect(loadConfig({ JOB_QUEUE: 'memory' }).jobs.queue).toBe('memory');
    expect(() => loadConfig({ JOB_QUEUE: 'memory', DATABASE_URL: 'postgres://x/y', SECRET_KEY: 'k'.repeat(32) })).toThrow(/JOB_QUEUE: memory is for tests and dev only/);
    expect(() => loadConfig({ JOB_QUEUE: 'redis' })).toThrow(/JOB_QUEUE: must be postgres or memory/);
  });

  it('by default gives a dead worker\'s job to another worker within a minute, whichever attempt it was', () => {
    const { retry, superviseIntervalSeconds } = loadConfig({}).jobs;
    // Silent for a heartbeat, found at the next supervision pass, then the longest retry delay.
    expect(retry.heartbeatSeconds + superviseIntervalSeconds + retry.retryDelayMaxSeconds).toBeLessThanOrEqual(60);
  });

  it('never lets the longest retry delay fall below the first one', () => {
    const { retry } = loadConfig({ JOB_RETRY_DELAY_SECONDS: '90', JOB_RETRY_DELAY_MAX_SECONDS: '30' }).jobs;
    expect(retry).toMatchObject({ retryDelaySeconds: 90, retryDelayMaxSeconds: 90 });
  });

  it('takes a worker health port, or none', () => {
    expect(loadConfig({}).jobs.healthPort).toBeNull();
    expect(loadConfig({ WORKER_HEALTH_PORT: '4001' }).jobs.healthPort).toBe(4001);
    expect(() => loadConfig({ WORKER_HEALTH_PORT: '70000' })).toThrow(/WORKER_HEALTH_PORT:/);
  });
});

describe('loadConfig: parsing untrusted files', () => {
  it('defaults to the documented sandbox and archive limits, and takes each from its variable', () => {
    expect(loadConfig({}).jobs.parseLimits).toEqual(DEFAULT_PARSE_LIMITS);
    const c = loadConfig({ SANDBOX_MEMORY_MB: '256', SANDBOX_TIMEOUT_SECONDS: '30', ARCHIVE_MAX_ENTRIES: '500', ARCHIVE_MAX_UNPACKED_MB: '64', ARCHIVE_MAX_RATIO: '50', ARCHIVE_MAX_XML_MB: '8', ARCHIVE_MAX_XML_DEPTH: '64', ARCHIVE_MAX_XML_ELEMENTS: '5000' });
    expect(c.jobs.parseLimits).toEqual({
      sandbox: { memoryMb: 256, nativeMemoryMb: 1536, timeoutMs: 30_000 },
      archive: { maxEntries: 500, maxUnpackedBytes: 64 * 1024 * 1024, maxRatio: 50, maxXmlBytes: 8 * 1024 * 1024, maxXmlDepth: 64, maxXmlElements: 5000 },
    });
    // A heap too small for the readers themselves to load is a mistake, not a limit.
    expect(() => loadConfig({ SANDBOX_MEMORY_MB: '16' })).toThrow(/SANDBOX_MEMORY_MB:/);
  });

  it('caps ffmpeg and ffprobe at MEDIA_TOOL_MEMORY_MB, 0 for no cap', () => {
    expect(loadConfig({}).jobs.mediaTools).toEqual(DEFAULT_MEDIA_TOOL_LIMITS);
    expect(loadConfig({ MEDIA_TOOL_MEMORY_MB: '0' }).jobs.mediaTools).toEqual({ memoryMb: 0 });
    expect(() => loadConfig({ MEDIA_TOOL_MEMORY_MB: '-1' })).toThrow(/MEDIA_TOOL_MEMORY_MB:/);
  });
});
