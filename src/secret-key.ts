import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { type Config, ConfigError, type LoadedConfig } from './config.js';

export const SECRET_KEY_FILE = 'secret.key';

/**
 * The configuration with its SECRET_KEY settled. Served mode has it from the environment (loadConfig
 * refuses to go on without). The embedded default keeps one in DATA_DIR/secret.key: made on the
 * first start, read on every later one, so download links and rate-limit counts survive restarts.
 */
export async function resolveSecretKey(config: LoadedConfig): Promise<Config> {
  if (config.secretKey !== null) return { ...config, secretKey: config.secretKey };
  return { ...config, secretKey: await embeddedSecretKey(config.dataDir) };
}

/**
 * Reads DATA_DIR/secret.key, or makes it. The file is written whole under a temporary name with mode
 * 0600 and then hard-linked into place, which fails if it already exists: two processes starting at
 * once agree on one key, and nobody ever reads half a file. An existing key that other users can
 * read is refused rather than quietly fixed: someone may have copied it, and only its owner can
 * judge (chmod 600 keeps it; deleting it makes a new one and ends the old links).
 */
export async function embeddedSecretKey(dataDir: string): Promise<string> {
  const path = join(dataDir, SECRET_KEY_FILE);
  await mkdir(dataDir, { recursive: true });
  const existing = await readKey(path);
  if (existing !== null) return existing;
  const key = randomBytes(32).toString('hex');
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await handle.writeFile(`${key}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // Another process made it first: use theirs.
  } finally {
    await unlink(temp);
  }
  await syncDir(dataDir);
  const stored = await readKey(path);
  if (stored === null) throw new Error(`${path} vanished while it was being created`);
  return stored;
}

async function readKey(path: string): Promise<string | null> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  if (mode & 0o077) {
    throw new ConfigError([
      `SECRET_KEY: ${path} may be read by other users (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run \`chmod 600 ${path}\` to keep it, or delete it to make a new one (links made so far then stop working)`,
    ]);
  }
  const key = (await readFile(path, 'utf8')).trim();
  if (key.length < 32) throw new ConfigError([`SECRET_KEY: ${path} holds fewer than 32 characters; delete it to make a new one`]);
  return key;
}

async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
