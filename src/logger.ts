import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; request handlers log through a child carrying the request id. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'memory-chest' },
    // Tokens and cookies never reach a log line.
    redact: ['req.headers.authorization', 'req.headers.cookie', 'headers.authorization'],
  });
}
