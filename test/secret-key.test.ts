import { chmod, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';
import { embeddedSecretKey, resolveSecretKey } from '../src/secret-key.js';

describe('the embedded secret key (DATA_DIR/secret.key)', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dmc-secret-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('is made on first start with mode 0600 and the same key comes back on every later start', async () => {
    const first = await resolveSecretKey(loadConfig({ DATA_DIR: dataDir }));
    expect(first.secretKey).toMatch(/^[0-9a-f]{64}$/);
    const file = join(dataDir, 'secret.key');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await readFile(file, 'utf8')).trim()).toBe(first.secretKey);
    expect((await resolveSecretKey(loadConfig({ DATA_DIR: dataDir }))).secretKey).toBe(first.secretKey);
    // No temporary file is left behind.
    expect(await readdir(dataDir)).toEqual(['secret.key']);
  });

  it('gives processes starting at the same moment one key', async () => {
    const keys = await Promise.all(Array.from({ length: 8 }, () => embeddedSecretKey(dataDir)));
    expect(new Set(keys).size).toBe(1);
    expect(await readdir(dataDir)).toEqual(['secret.key']);
  });

  it('refuses a key file other users can read, saying how to fix it', async () => {
    const file = join(dataDir, 'secret.key');
    await writeFile(file, 'k'.repeat(64), { mode: 0o644 });
    await chmod(file, 0o644);
    const attempt = embeddedSecretKey(dataDir);
    await expect(attempt).rejects.toThrow(ConfigError);
    await expect(embeddedSecretKey(dataDir)).rejects.toThrow(/SECRET_KEY: .*secret\.key may be read by other users \(mode 0644\); run `chmod 600/);
  });

  it('is not made when SECRET_KEY is set, nor in served mode', async () => {
    expect((await resolveSecretKey(loadConfig({ DATA_DIR: dataDir, SECRET_KEY: 'e'.repeat(40) }))).secretKey).toBe('e'.repeat(40));
    expect(() => loadConfig({ DATA_DIR: dataDir, DATABASE_URL: 'postgresql://u@db/x' })).toThrow(/SECRET_KEY: required/);
    expect(await readdir(dataDir)).toEqual([]);
  });
});
