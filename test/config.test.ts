import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

describe('loadConfig', () => {
  it('defaults to the embedded database under ./data on loopback', () => {
    const c = loadConfig({});
    expect(c.database.mode).toBe('embedded');
    expect(c.database).toMatchObject({ dataDir: expect.stringMatching(/data[/\\]pgdata$/) });
    expect(c.http).toEqual({ host: '127.0.0.1', port: 4000 });
  });

  it('uses PostgreSQL when DATABASE_URL is set', () => {
    const c = loadConfig({ DATABASE_URL: 'postgresql://u@db:5432/chest', DB_POOL_MAX: '7' });
    expect(c.database).toEqual({ mode: 'postgres', url: 'postgresql://u@db:5432/chest', poolMax: 7 });
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
    ['SESSION_TTL_DAYS', '0'],
  ])('rejects a bad %s (%s) naming the variable', (name, value) => {
    const attempt = () => loadConfig({ [name]: value });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(new RegExp(`${name}:`));
  });
});
