import { type ExecutionResult, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../../src/events/in-process.events.js';
import { Outcome, type OutcomeReader, Relay } from '../../src/events/take.js';
import { ProtocolConnection, type ProtocolHooks, type ProtocolSocket } from '../../src/graphql/websocket-protocol.js';

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLString, resolve: () => 'ok' } } }),
  subscription: new GraphQLObjectType({ name: 'Subscription', fields: { tick: { type: GraphQLString } } }),
});

/** A socket that records what the protocol sends and how it closes. */
class RecordingSocket implements ProtocolSocket {
  readonly protocol = GRAPHQL_TRANSPORT_WS_PROTOCOL;
  readonly sent: unknown[] = [];
  closedWith: [number, string] | null = null;
  failures: unknown[] = [];
  send(text: string): void {
    this.sent.push(JSON.parse(text));
  }
  close(code: number, reason: string): void {
    this.closedWith ??= [code, reason];
  }
  failed(err: unknown): void {
    this.failures.push(err);
  }
}

/**
 * A stage as ChestWatch is one: a bus subscriber's events, each decided on (a database check),
 * then handed on. `decide` says what each event becomes; a rejection is a failed check.
 */
class Deciding extends Relay<ExecutionResult, number> implements AsyncGenerator<ExecutionResult>, OutcomeReader<ExecutionResult> {
  returned = 0;
  constructor(
    source: AsyncIterableIterator<number>,
    private readonly decide: (n: number) => Promise<ExecutionResult>,
  ) {
    super(source);
  }
  result(r: IteratorResult<number>): void {
    if (r.done) return this.handOn(r);
    new Outcome(this.decide(r.value)).read(this);
  }
  settled(value: ExecutionResult): void {
    this.handOn({ done: false, value });
  }
  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.returned++;
    await this.source.return?.();
    return { done: true, value: undefined };
  }
}

function hooks(subscribe: ProtocolHooks<null>['subscribe']): ProtocolHooks<null> {
  return {
    onConnect: () => true,
    onSubscribe: (payload) => ({ schema, document: parse(payload.query) }),
    context: async () => ({}),
    subscribe,
    onNext: (result) => result,
    onError: (errors) => errors.map((e) => e.toJSON()),
  };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

async function connected(h: ProtocolHooks<null>, initWaitMs?: number) {
  const socket = new RecordingSocket();
  const connection = new ProtocolConnection({ socket, hooks: h, extra: null, initWaitMs });
  connection.received(JSON.stringify({ type: 'connection_init' }));
  await tick();
  expect(socket.sent).toEqual([{ type: 'connection_ack' }]);
  socket.sent.length = 0;
  return { socket, connection };
}

const subscribe = (connection: ProtocolConnection<null>, id: string) =>
  connection.received(JSON.stringify({ id, type: 'subscribe', payload: { query: 'subscription { tick }' } }));

describe('ProtocolConnection against graphql-ws makeServer (review)', () => {
  it('sends an error message when the per-event check fails, and lets go of the bus subscriber', async () => {
    const bus = new InProcessEventBus();
    let stage: Deciding | null = null;
    const { socket, connection } = await connected(
      hooks(async () => (stage = new Deciding(bus.subscribe<number>('t'), () => Promise.reject(new Error('database unavailable'))))),
    );
    subscribe(connection, '1');
    await tick();
    expect(bus.subscriberCount('t')).toBe(1);

    bus.publish('t', 1);
    await tick();
    expect(socket.sent).toEqual([{ id: '1', type: 'error', payload: [expect.objectContaining({ message: 'database unavailable' })] }]);
    // The operation is over for the client: nothing may stay subscribed for it (its queue would grow with every event).
    expect(stage!.returned).toBe(1);
    expect(bus.subscriberCount('t')).toBe(0);
    for (let i = 0; i < 3; i++) bus.publish('t', i);
    await tick();
    expect(socket.sent).toHaveLength(1);
    expect(socket.closedWith).toBeNull();
    expect(socket.failures).toEqual([]);
  });

  it('a client complete while the per-event check is pending unsubscribes at once and sends nothing for the event', async () => {
    const bus = new InProcessEventBus();
    let release: (r: ExecutionResult) => void = () => {};
    const { socket, connection } = await connected(
      hooks(async () => new Deciding(bus.subscribe<number>('t'), () => new Promise<ExecutionResult>((resolve) => (release = resolve)))),
    );
    subscribe(connection, '1');
    await tick();
    bus.publish('t', 1);
    await tick();
    connection.received(JSON.stringify({ id: '1', type: 'complete' }));
    await tick();
    expect(bus.subscriberCount('t')).toBe(0);
    release({ data: { tick: 'late' } });
    await tick();
    bus.publish('t', 2); // after return(): nobody holds it
    await tick();
    expect(socket.sent).toEqual([]);
    expect(socket.failures).toEqual([]);
  });

  it('a socket closing while the operation is starting returns the iterator it then gets', async () => {
    const bus = new InProcessEventBus();
    let startContext: () => void = () => {};
    const h = hooks(async () => new Deciding(bus.subscribe<number>('t'), async (n) => ({ data: { tick: String(n) } })));
    h.context = () => new Promise((resolve) => (startContext = () => resolve({})));
    const { socket, connection } = await connected(h);
    subscribe(connection, '1');
    await tick();
    connection.closed();
    startContext();
    await tick();
    await tick();
    expect(bus.subscriberCount('t')).toBe(0);
    expect(socket.sent).toEqual([]);
  });

  it('sends next, next, complete in order and ends the operation when its stream ends', async () => {
    const bus = new InProcessEventBus();
    const { socket, connection } = await connected(hooks(async () => new Deciding(bus.subscribe<number>('t'), async (n) => ({ data: { tick: String(n) } }))));
    subscribe(connection, '1');
    await tick();
    bus.publish('t', 1);
    bus.publish('t', 2);
    await tick();
    await bus.close();
    await tick();
    expect(socket.sent).toEqual([
      { id: '1', type: 'next', payload: { data: { tick: '1' } } },
      { id: '1', type: 'next', payload: { data: { tick: '2' } } },
      { id: '1', type: 'complete' },
    ]);
    // The id is free again, as in makeServer.
    subscribe(connection, '1');
    await tick();
    expect(socket.closedWith).toBeNull();
  });

  it('an init wait of 0 or Infinity means no wait, as connectionInitWaitTimeout does in graphql-ws', async () => {
    for (const initWaitMs of [0, Infinity]) {
      const socket = new RecordingSocket();
      const connection = new ProtocolConnection({ socket, hooks: hooks(async () => ({ data: null })), extra: null, initWaitMs });
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(socket.closedWith).toBeNull();
      connection.closed();
    }
  });
});
