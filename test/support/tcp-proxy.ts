import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy on loopback that a test puts between a client and a server (the app and PostgreSQL,
 * or a websocket client and the app) to make the network fail on command:
 * - cut():     every open connection is destroyed and new ones are closed at once (a crashed or
 *              unreachable server: "connection terminated", "socket hang up");
 * - hang():    open connections stop forwarding and new ones are accepted but never answered
 *              (a frozen server or a black-holed network: only timeouts end the wait);
 * - restore(): forwarding again; connections held while hung are dropped, as a real peer would
 *              have long given up on them.
 */
export interface TcpProxy {
  readonly port: number;
  cut(): void;
  hang(): void;
  restore(): void;
  /** Connections accepted since the start, and refused or held because of cut() or hang(). */
  readonly stats: { accepted: number; refused: number; held: number };
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  let mode: 'open' | 'cut' | 'hung' = 'open';
  const pairs = new Set<{ client: Socket; upstream: Socket }>();
  const held = new Set<Socket>();
  const stats = { accepted: 0, refused: 0, held: 0 };

  const server: Server = createServer((client) => {
    stats.accepted++;
    client.on('error', () => undefined);
    if (mode === 'cut') {
      stats.refused++;
      client.destroy();
      return;
    }
    if (mode === 'hung') {
      stats.held++;
      held.add(client);
      client.pause();
      client.on('close', () => held.delete(client));
      return;
    }
    const upstream = connect(target.port, target.host);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', drop);
    upstream.on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    port,
    stats,
    cut() {
      mode = 'cut';
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const socket of held) socket.destroy();
    },
    hang() {
      mode = 'hung';
      // Unpiped and paused: bytes from either side stay where they are, nothing is answered.
      for (const { client, upstream } of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    restore() {
      mode = 'open';
      for (const socket of held) socket.destroy();
      for (const { client, upstream } of pairs) {
        if (client.destroyed || upstream.destroyed) continue;
        client.pipe(upstream);
        upstream.pipe(client);
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
