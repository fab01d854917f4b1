import { createHash, randomBytes } from 'node:crypto';

/**
 * Bearer secrets (sessions, share and contribution links, guest tokens): 256 random bits,
 * base64url. Only the SHA-256 is stored, so a database leak opens nothing.
 */
export function newToken(): { token: string; hash: string } {
  const token = randomBytes(32).toString('base64url');
  return { token, hash: hashToken(token) };
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Anything else cannot be one of our tokens, so no query is spent on it. */
export const looksLikeToken = (s: string): boolean => /^[A-Za-z0-9_-]{43}$/.test(s);
