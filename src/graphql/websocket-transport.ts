import type { IncomingMessage } from 'node:http';
import { CloseCode, handleProtocols, makeServer, type ServerOptions, type WebSocket as ProtocolSocket } from 'graphql-ws';
import { WebSocket, type WebSocketServer } from 'ws';

/** What graphql-ws hands our hooks as `ctx.extra`: the socket, and what was read off its upgrade request. */
export interface SocketExtra {
  readonly socket: WebSocket;
  /** The client's address as HTTP's `req.ip` would give it; the upgrade request itself is not kept. */
  readonly clientAddress: string | null;
}

export interface ServeGraphqlWsInput<P extends Record<PropertyKey, unknown> | undefined> {
  wss: WebSocketServer;
  options: ServerOptions<P, SocketExtra>;
  clientAddressOf: (request: IncomingMessage) => string | null;
  /** An operation failed past graphql-ws's own handling: the socket closes with 4500 and this reason. */
  closeReasonOf: (err: unknown) => string;
  /** Errors of the sockets themselves and of the server. */
  onInternalError: (err: unknown) => void;
  /** A socket that answers no ping within this long is cut (graphql-ws's own adapter uses 12 s). */
  keepAliveMs?: number;
  /**
   * A client that reads nothing while events arrive would otherwise make the server hold every
   * event for it: past this many unsent bytes its socket is cut, and its client reconnects.
   */
  maxBufferedBytes?: number;
}

const SOCKET = Symbol('graphql-ws socket');
const INTERNAL_REASON = 'Internal server error';
interface Served extends WebSocket {
  [SOCKET]: ServedSocket;
}

/**
 * graphql-ws's protocol server (`makeServer`) on `ws` sockets: what `graphql-ws/use/ws` does, but
 * with less kept per socket, since a memorial can have ten thousand idle subscribers. That adapter
 * keeps the upgrade request (its headers and socket references), two timers, half a dozen
 * closures and a suspended async frame per socket, and sends every message through a new promise
 * and callback. Here a socket costs one small object: the listeners are shared functions that
 * find it through the socket, one timer pings every socket (the `ws` heartbeat pattern), and a
 * send is a plain `ws.send` (ws queues and orders the frames).
 */
export function serveGraphqlWs<P extends Record<PropertyKey, unknown> | undefined>({
  wss,
  options,
  clientAddressOf,
  closeReasonOf,
  onInternalError,
  keepAliveMs = 12_000,
  maxBufferedBytes = 4 * 1024 * 1024,
}: ServeGraphqlWsInput<P>) {
  const server = makeServer(options);
  const fail = (socket: WebSocket, err: unknown) => {
    const reason = closeReasonOf(err);
    if (reason === INTERNAL_REASON) onInternalError(err);
    if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(CloseCode.InternalServerError, reason);
  };
  const limits = { maxBufferedBytes, fail };

  wss.on('error', (err) => {
    onInternalError(err);
    for (const client of wss.clients) client.close(CloseCode.InternalServerError, INTERNAL_REASON);
  });
  wss.on('connection', (ws: WebSocket, request: IncomingMessage) => {
    const socket = new ServedSocket(ws as Served, limits);
    (ws as Served)[SOCKET] = socket;
    // on, not once: once wraps each listener in a closure of its own; these run at most once anyway.
    ws.on('error', onSocketError);
    ws.on('pong', onSocketPong);
    socket.closed = server.opened(socket, {
      socket: ws,
      clientAddress: clientAddressOf(request),
    });
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

/** One socket as graphql-ws's protocol server sees it. */
class ServedSocket implements ProtocolSocket {
  awaitingPong = false;
  closed: ((code?: number, reason?: string) => Promise<void>) | null = null;
  private handle: ((data: string) => Promise<void>) | null = null;

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

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  onMessage(cb: (data: string) => Promise<void>): void {
    this.handle = cb;
    this.ws.on('message', onSocketMessage);
  }

  received(data: string): void {
    // For a subscription this settles only when it ends: not awaited, so no frame waits with it.
    this.handle?.(data).catch((err: unknown) => this.limits.fail(this.ws, err));
  }

  pong(): void {
    this.awaitingPong = false;
  }

  /** The socket closed: graphql-ws ends its subscriptions. */
  ended(code: number, reason: string): void {
    this.closed?.(code, reason).catch((err: unknown) => this.limits.fail(this.ws, err));
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
function onSocketClose(this: WebSocket, code: number, reason: Buffer): void {
  served(this).ended(code, String(reason));
}
