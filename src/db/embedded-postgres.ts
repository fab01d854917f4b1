import { mkdir } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

export interface EmbeddedPostgres {
  /** A postgres:// URL on loopback that speaks the wire protocol to PGlite. */
  url: string;
  close(): Promise<void>;
}

/**
 * Starts PGlite (Postgres in WebAssembly) and serves it on a loopback port, so the embedded mode
 * uses the same `pg` driver, ORM and SQL as a real PostgreSQL. PGlite is single-session: callers
 * must hold at most one connection (pool max 1), or transactions from two clients would interleave.
 *
 * @param dataDir where the database persists; undefined keeps it in memory (tests).
 */
export async function startEmbeddedPostgres(dataDir?: string): Promise<EmbeddedPostgres> {
  if (dataDir) await mkdir(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port: 0, maxConnections: 1 });
  await server.start();
  const port = listeningPort(server);
  return {
    url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}

function listeningPort(server: PGLiteSocketServer): number {
  // getServerConn() answers "host:port" once the server listens (port 0 picks a free one).
  const port = Number(server.getServerConn().split(':').pop());
  if (!Number.isInteger(port) || port <= 0) throw new Error('embedded postgres: could not read the listening port');
  return port;
}
