import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols } from 'graphql-ws';
import { WebSocket, type WebSocketServer } from 'ws';
import { INTERNAL_CLOSE_REASON } from './errors.js';
import { ProtocolConnection, type ProtocolHooks, type ProtocolSocket } from './websocket-protocol.js';

/** What graphql-ws hands our hooks as `ctx.extra`: the socket, and what was read off its upgrade request. */
export interface SocketExtra {
  readonly socket: WebSocket;
  /** The client's address as HTTP's `req.ip` would give it; the upgrade request itself is not kept. */
  readonly clientAddress: string | null;
}

export interface ServeGraphqlWsInput {
  wss: WebSocketServer;
  hooks: ProtocolHooks<SocketExtra>;
  clientAddressOf: (request: IncomingMessage) => string | null;
  /** An operation failed past graphql-ws's own handling: the socket closes with 4500 and this reason. */
  closeReasonOf: (err: unknown) => string;
  /** Errors of the sockets themselves and of the server. */
  onInternalError: (err: unknown) => void;
  /** How long a socket may stay without connection_init (then 4408); graphql-ws's default, 3 s. */
  connectionInitWaitMs?: number;
  /** A socket that answers no ping within this long is cut (graphql-ws's own adapter uses 12 s). */
  keepAliveMs?: number;
  /**
   * A client that reads nothing while events arrive would otherwise make the server hold every
   * event for it: past this many unsent bytes its socket is cut, and its client reconnects.
   */
  maxBufferedBytes?: number;
}

const SOCKET = Symbol('graphql-ws socket');
interface Served extends WebSocket {
  [SOCKET]: ServedSocket;
}

/**
 * The graphql-transport-ws protocol (websocket-protocol.ts) on `ws` sockets: what graphql-ws's
 * `useServer` does, but with less kept per socket, since a memorial can have ten thousand idle
 * subscribers. That adapter keeps the upgrade request (its headers and socket references), two
 * timers, half a dozen closures and a suspended async frame per socket, and sends every message
 * through a new promise and callback. Here a socket costs two small objects: the listeners are
 * shared functions that find it through the socket, one timer pings every socket (the `ws`
 * heartbeat pattern), and a send is a plain `ws.send` (ws queues and orders the frames).
 */
export function serveGraphqlWs({
  wss,
  hooks,
  clientAddressOf,
  closeReasonOf,
  onInternalError,
  connectionInitWaitMs,
  keepAliveMs = 12_000,
  maxBufferedBytes = 4 * 1024 * 1024,
}: ServeGraphqlWsInput) {
  const fail = (socket: WebSocket, err: unknown) => {
    const reason = closeReasonOf(err);
    if (reason === INTERNAL_CLOSE_REASON) onInternalError(err);
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(CloseCode.InternalServerError, reason);
  };
  const limits = { maxBufferedBytes, fail };

  wss.on('error', (err) => {
    onInternalError(err);
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, INTERNAL_CLOSE_REASON);
  });
  wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
    const socket = new ServedSocket(ws as Served, limits);
    (ws as Served)[SOCKET] = socket;
    socket.connection = new ProtocolConnection({ socket, hooks, extra: { socket: ws, clientAddress: clientAddressOf(request) }, initWaitMs: connectionInitWaitMs });
    ws.on('message', onSocketMessage);
    // on, not once: once wraps each listener in a closure of its own; these run at most once anyway.
    ws.on('error', onSocketError);
    ws.on('pong', onSocketPong);
    ws.on('close', onSocketClose);
  });

  // One sweep for every socket: a socket that has not answered the last ping is cut.
  const heartbeat =
    keepAliveMs > 0 && Number.isFinite(keepAliveMs)
      ? setInterval(() => {
          for (const ws of wss.clients) {
            const socket = (ws as Served)[SOCKET];
            if (!socket || ws.readyState !== WebSocket.OPEN) continue;
            if (socket.awaitingPong) {
              ws.terminate();
              continue;
            }
            socket.awaitingPong = true;
            ws.ping();
          }
        }, keepAliveMs)
      : null;
  heartbeat?.unref();

  return {
    dispose: async () => {
      if (heartbeat) clearInterval(heartbeat);
      for (const client of wss.clients) client.close(1001, 'Going away');
      wss.removeAllListeners();
      await new Promise<void>((resolve, reject) => wss.close((err) => (err ? reject(err) : resolve())));
    },
  };
}

/** The WebSocketServer options graphql-ws needs: it picks the subprotocol. */
export const GRAPHQL_WS_SERVER_OPTIONS = { handleProtocols } as const;

interface SocketLimits {
  maxBufferedBytes: number;
  fail: (socket: WebSocket, err: unknown) => void;
}

/** One socket, as its protocol connection sees it. */
class ServedSocket implements ProtocolSocket {
  awaitingPong = false;
  connection: ProtocolConnection<SocketExtra> | null = null;

  constructor(
    private readonly ws: Served,
    private readonly limits: SocketLimits,
  ) {}

  get protocol(): string {
    return this.ws.protocol;
  }

  send(data: string): void {
    const { ws } = this;
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > this.limits.maxBufferedBytes) {
      ws.terminate();
      return;
    }
    ws.send(data);
  }

  close(code: number, reason: string): void {
    this.ws.close(code, reason);
  }

  received(data: string): void {
    this.connection?.received(data);
  }

  pong(): void {
    this.awaitingPong = false;
  }

  /** The socket closed: its subscriptions end. */
  ended(): void {
    this.connection?.closed();
  }

  failed(err: unknown): void {
    this.limits.fail(this.ws, err);
  }
}

// Shared by every socket: `this` is the socket the event is for.
const served = (ws: WebSocket): ServedSocket => (ws as Served)[SOCKET];
function onSocketMessage(this: WebSocket, data: WebSocket.RawData): void {
  served(this).received(String(data));
}
function onSocketPong(this: WebSocket): void {
  served(this).pong();
}
function onSocketError(this: WebSocket, err: Error): void {
  served(this).failed(err);
}
function onSocketClose(this: WebSocket): void {
  served(this).ended();
}
