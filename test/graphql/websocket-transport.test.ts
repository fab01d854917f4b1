import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ExecutionResult, GraphQLError, GraphQLObjectType, GraphQLSchema, GraphQLString, parse, subscribe } from 'graphql';
import { createClient, GRAPHQL_TRANSPORT_WS_PROTOCOL } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { ProtocolHooks } from '../../src/graphql/websocket-protocol.js';
import { GRAPHQL_WS_SERVER_OPTIONS, type ServeGraphqlWsInput, type SocketExtra, serveGraphqlWs } from '../../src/graphql/websocket-transport.js';

/** A schema whose one subscription sends `size` characters per event, as fast as it is read, and says when it ended. */
function bigEvents(size: number) {
  const state = { ended: 0, sent: 0 };
  const Query = new GraphQLObjectType({
    name: 'Query',
    fields: { ok: { type: GraphQLString, resolve: () => 'ok' } },
  });
  const Subscription = new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      big: {
        type: GraphQLString,
        subscribe: async function* () {
          try {
            for (;;) {
              state.sent++;
              yield { big: 'x'.repeat(size) };
              // Let the socket write: the server sends as fast as the loop runs.
              await new Promise((resolve) => setImmediate(resolve));
            }
          } finally {
            state.ended++;
          }
        },
      },
    },
  });
  return {
    schema: new GraphQLSchema({ query: Query, subscription: Subscription }),
    state,
  };
}

let server: Server | null = null;
let dispose: (() => Promise<void>) | null = null;
afterEach(async () => {
  await dispose?.();
  server?.close();
  server = dispose = null;
});

/** Hooks that run any document against the schema, as graphql-ws would without hooks of its own. */
function plainHooks(schema: GraphQLSchema, over: Partial<ProtocolHooks<SocketExtra>> = {}): ProtocolHooks<SocketExtra> {
  return {
    onConnect: () => true,
    onSubscribe: (payload) => ({ schema, document: parse(payload.query), variableValues: payload.variables ?? null }),
    context: async () => ({}),
    subscribe: (args) => subscribe(args) as Promise<AsyncGenerator<ExecutionResult> | ExecutionResult>,
    onNext: (result) => result,
    onError: (errors) => errors.map((e) => e.toJSON()),
    ...over,
  };
}

async function serve(input: Partial<ServeGraphqlWsInput> & Pick<ServeGraphqlWsInput, 'hooks'>) {
  server = createServer();
  const wss = new WebSocketServer({ server, ...GRAPHQL_WS_SERVER_OPTIONS });
  const internal: unknown[] = [];
  ({ dispose } = serveGraphqlWs({
    wss,
    clientAddressOf: (req) => req.socket.remoteAddress ?? null,
    closeReasonOf: () => 'Internal server error',
    onInternalError: (err) => internal.push(err),
    ...input,
  }));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}`,
    internal,
  };
}

/** A bare protocol client: connection_init and one subscribe, nothing read by graphql-ws code. */
async function bareSubscriber(url: string, opts: { autoPong?: boolean } = {}) {
  const ws = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL, {
    autoPong: opts.autoPong ?? true,
  });
  await once(ws, 'open');
  ws.send(JSON.stringify({ type: 'connection_init' }));
  const [ack] = await once(ws, 'message');
  expect(JSON.parse(String(ack))).toEqual({ type: 'connection_ack' });
  return ws;
}

const subscribeTo = (ws: WebSocket, id: string, query: string) => ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));

describe('graphql-ws on ws sockets (websocket-transport.ts)', () => {
  it('serves the protocol to graphql-ws clients and gives hooks the client address, not the upgrade request', async () => {
    const { schema, state } = bigEvents(10);
    const extras: SocketExtra[] = [];
    const { url } = await serve({
      hooks: plainHooks(schema, {
        onConnect: (ctx) => {
          extras.push(ctx.extra);
          return true;
        },
      }),
    });
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
    });
    const got: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      const stop = client.subscribe(
        { query: 'subscription { big }' },
        {
          next: (r) => {
            got.push(r);
            if (got.length === 3) {
              stop();
              resolve();
            }
          },
          error: reject,
          complete: () => undefined,
        },
      );
    });
    expect(got).toEqual([{ data: { big: 'x'.repeat(10) } }, { data: { big: 'x'.repeat(10) } }, { data: { big: 'x'.repeat(10) } }]);
    expect(extras).toHaveLength(1);
    expect(Object.keys(extras[0]!).sort()).toEqual(['clientAddress', 'socket']);
    expect(extras[0]!.clientAddress).toBe('127.0.0.1');
    await client.dispose();
    await expect.poll(() => state.ended).toBe(1);
  });

  it('cuts a socket that answers no ping and keeps one that does', async () => {
    const { schema } = bigEvents(10);
    const { url } = await serve({ hooks: plainHooks(schema), keepAliveMs: 50 });
    const silent = await bareSubscriber(url, { autoPong: false });
    const answering = await bareSubscriber(url);
    let pings = 0;
    answering.on('ping', () => pings++);
    const [code] = (await once(silent, 'close')) as [number];
    // terminate(): no close frame, so the client sees an abnormal closure.
    expect(code).toBe(1006);
    await expect.poll(() => pings, { timeout: 5000 }).toBeGreaterThanOrEqual(3);
    expect(answering.readyState).toBe(WebSocket.OPEN);
    answering.close();
  });

  it('cuts a client that reads nothing once too much waits for it, and ends its subscription', async () => {
    const { schema, state } = bigEvents(64 * 1024);
    const { url } = await serve({ hooks: plainHooks(schema), maxBufferedBytes: 1024 * 1024 });
    const ws = await bareSubscriber(url);
    subscribeTo(ws, '1', 'subscription { big }');
    await once(ws, 'message');
    // The client stops reading: the kernel's buffers fill, then the server's.
    (ws as unknown as { _socket: import('node:net').Socket })._socket.pause();
    await expect.poll(() => state.ended, { timeout: 20_000 }).toBe(1);
    // It was given up on after the limit, not after everything it would have been sent.
    expect(state.sent).toBeGreaterThan(16);
    (ws as unknown as { _socket: import('node:net').Socket })._socket.resume();
    const [code] = (await once(ws, 'close')) as [number];
    expect(code).toBe(1006);
  });

  it('closes with 4500 and the reason the server gives when an operation fails, and reports it', async () => {
    const { schema } = bigEvents(10);
    const boom = new Error('secret detail of a bug');
    const { url, internal } = await serve({
      hooks: plainHooks(schema, {
        context: () => Promise.reject(boom),
      }),
    });
    const ws = await bareSubscriber(url);
    subscribeTo(ws, '1', 'subscription { big }');
    const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
    expect({ code, reason: String(reason) }).toEqual({
      code: 4500,
      reason: 'Internal server error',
    });
    expect(internal).toEqual([boom]);
  });

  it('answers protocol breaches with graphql-ws close codes', async () => {
    const { schema } = bigEvents(10);
    const { url } = await serve({ hooks: plainHooks(schema), connectionInitWaitMs: 100 });
    const closeOf = async (ws: WebSocket) => {
      const [code, reason] = (await once(ws, 'close')) as [number, Buffer];
      return { code, reason: String(reason) };
    };
    const opened = async (protocol: string | null = GRAPHQL_TRANSPORT_WS_PROTOCOL) => {
      const ws = protocol === null ? new WebSocket(url) : new WebSocket(url, protocol);
      await once(ws, 'open');
      return ws;
    };
    // No connection_init in time.
    expect(await closeOf(await opened())).toEqual({ code: 4408, reason: 'Connection initialisation timeout' });
    // No subprotocol (an old subscriptions-transport-ws client gets none either).
    expect(await closeOf(await opened(null))).toEqual({ code: 4406, reason: 'Subprotocol not acceptable' });
    // Not JSON, or not a message.
    const garbled = await opened();
    garbled.send('{not json');
    expect(await closeOf(garbled)).toEqual({ code: 4400, reason: 'Invalid message received' });
    // Subscribing before being acknowledged.
    const early = await opened();
    subscribeTo(early, '1', '{ ok }');
    expect(await closeOf(early)).toEqual({ code: 4401, reason: 'Unauthorized' });
    // A second connection_init.
    const twice = await bareSubscriber(url);
    twice.send(JSON.stringify({ type: 'connection_init' }));
    expect(await closeOf(twice)).toEqual({ code: 4429, reason: 'Too many initialisation requests' });
    // Two operations with one id.
    const dup = await bareSubscriber(url);
    subscribeTo(dup, 'same', 'subscription { big }');
    subscribeTo(dup, 'same', 'subscription { big }');
    expect(await closeOf(dup)).toEqual({ code: 4409, reason: 'Subscriber for same already exists' });
  });

  it('answers a query with next and complete, a refused document with an error message, and a ping with a pong', async () => {
    const { schema } = bigEvents(10);
    const { url } = await serve({ hooks: plainHooks(schema, { onSubscribe: (payload) => (payload.query.includes('nope') ? [new GraphQLError('refused')] : plainHooks(schema).onSubscribe(payload)) }) });
    const ws = await bareSubscriber(url);
    const messages: unknown[] = [];
    ws.on('message', (data) => messages.push(JSON.parse(String(data))));
    subscribeTo(ws, 'q', '{ ok }');
    subscribeTo(ws, 'r', '{ nope }');
    ws.send(JSON.stringify({ type: 'ping', payload: { n: 1 } }));
    await expect.poll(() => messages.length).toBe(4);
    expect(messages).toEqual(
      expect.arrayContaining([
        { id: 'q', type: 'next', payload: { data: { ok: 'ok' } } },
        { id: 'q', type: 'complete' },
        { id: 'r', type: 'error', payload: [{ message: 'refused' }] },
        { type: 'pong', payload: { n: 1 } },
      ]),
    );
    ws.close();
  });

  it("ends the server's subscription when the client completes it, and sends nothing for it afterwards", async () => {
    const { schema, state } = bigEvents(10);
    const { url } = await serve({ hooks: plainHooks(schema) });
    const ws = await bareSubscriber(url);
    const ids: string[] = [];
    ws.on('message', (data) => ids.push((JSON.parse(String(data)) as { id: string }).id));
    subscribeTo(ws, 'a', 'subscription { big }');
    subscribeTo(ws, 'b', 'subscription { big }');
    await expect.poll(() => ids.includes('a') && ids.includes('b')).toBe(true);
    ws.send(JSON.stringify({ id: 'a', type: 'complete' }));
    await expect.poll(() => state.ended).toBe(1);
    // Every message for a after the server saw the complete would arrive before this ping's pong.
    const before = ids.filter((id) => id === 'a').length;
    const bAfter = ids.filter((id) => id === 'b').length;
    await expect.poll(() => ids.filter((id) => id === 'b').length).toBeGreaterThan(bAfter + 3);
    expect(ids.filter((id) => id === 'a').length).toBe(before);
    ws.close();
    await expect.poll(() => state.ended).toBe(2);
  });

  it('runs no hook for what a client sends after the server began to close its socket', async () => {
    const { schema } = bigEvents(10);
    let connects = 0;
    const { url } = await serve({
      hooks: plainHooks(schema, {
        onConnect: () => {
          connects++;
          return true;
        },
      }),
    });
    // A subscribe before the init closes the socket (4401); the init right behind it costs nothing.
    const early = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL);
    await once(early, 'open');
    subscribeTo(early, '1', 'subscription { big }');
    early.send(JSON.stringify({ type: 'connection_init' }));
    const [code] = (await once(early, 'close')) as [number];
    expect(code).toBe(4401);
    // A socket the server still serves, for comparison: its init reaches onConnect.
    const served = await bareSubscriber(url);
    expect(connects).toBe(1);
    served.close();
  });
});
