import { type ExecutionArgs, type ExecutionResult, execute, getOperationAST, GraphQLError, type GraphQLFormattedError } from 'graphql';
import { type Sink, takeFrom } from '../events/take.js';
import { CloseCode, GRAPHQL_TRANSPORT_WS_PROTOCOL, MessageType, parseMessage, type SubscribeMessage, type SubscribePayload } from 'graphql-ws';

/** What the hooks see of a connection. */
export interface SocketContext<E> {
  readonly extra: E;
  /** The connection_init payload, when it was an object. */
  connectionParams?: Record<string, unknown>;
}

/**
 * What the server decides per connection and operation (websocket.ts): graphql-ws's hooks, with
 * only the arguments ours use, so a socket need not keep the rest (the subscribe message, its
 * payload and query text) for as long as it subscribes.
 */
export interface ProtocolHooks<E> {
  /** false refuses the connection (4403 Forbidden). */
  onConnect(ctx: SocketContext<E>): Promise<boolean> | boolean;
  /** The execution arguments for a subscribe message, or the errors that refuse it. */
  onSubscribe(payload: SubscribePayload): ExecutionArgs | readonly GraphQLError[];
  /** The operation's context value; a throw closes the socket (4500 with socketCloseReason). */
  context(ctx: SocketContext<E>): Promise<unknown>;
  subscribe(args: ExecutionArgs): Promise<AsyncGenerator<ExecutionResult> | ExecutionResult>;
  onOperation?(args: ExecutionArgs, result: unknown): void;
  /** The result as it goes out (errors formatted); returning the same object lets sockets share its text. */
  onNext(result: ExecutionResult): ExecutionResult;
  onError(errors: readonly GraphQLError[]): readonly GraphQLFormattedError[];
}

/** The socket a connection talks through (websocket-transport.ts). */
export interface ProtocolSocket {
  readonly protocol: string;
  send(text: string): void;
  close(code: number, reason: string): void;
  /** Work for this socket failed past the protocol's own answers: it closes with 4500. */
  failed(err: unknown): void;
}

export interface ProtocolConnectionInput<E> {
  socket: ProtocolSocket;
  hooks: ProtocolHooks<E>;
  extra: E;
  initWaitMs?: number;
}

export const CONNECTION_INIT_WAIT_MS = 3_000;

/** One subscribe message's operation; it is also the sink its results are handed to (events/take.ts). */
class Operation implements Sink<ExecutionResult> {
  /** The start of each next message: only the result differs. */
  readonly nextPrefix: string;
  iterator: AsyncIterator<ExecutionResult> | null = null;
  constructor(
    readonly id: string,
    private readonly connection: ProtocolConnection<unknown>,
  ) {
    this.nextPrefix = `{"id":${JSON.stringify(id)},"type":"next","payload":`;
  }

  result(r: IteratorResult<ExecutionResult>): void {
    this.connection.delivered(this, r);
  }

  error(err: unknown): void {
    this.connection.streamFailed(this, err);
  }
}

/** Results' JSON, made once per result object: every socket of one viewer gets the same one. */
const resultText = new WeakMap<object, string>();
function textOf(result: ExecutionResult): string {
  let text = resultText.get(result);
  if (text === undefined) resultText.set(result, (text = JSON.stringify(result)));
  return text;
}

/**
 * The graphql-transport-ws protocol (github.com/enisdenjo/graphql-ws, PROTOCOL.md) for one socket,
 * as graphql-ws's makeServer speaks it, with the same close codes. Written here rather than
 * used from graphql-ws because of what it costs per idle subscriber: makeServer keeps, for
 * every subscription, its subscribe message, half a dozen closures, a record keyed by
 * operation id and a suspended `for await`, and stringifies every result again for every socket.
 * Here a subscription is one small object whose iterator is pumped by promise callbacks, and a
 * result shared by many sockets is stringified once.
 */
export class ProtocolConnection<E> {
  private readonly ctx: SocketContext<E>;
  private readonly socket: ProtocolSocket;
  private readonly hooks: ProtocolHooks<E>;
  private initReceived = false;
  private closing = false;
  private acknowledged = false;
  private initWait: NodeJS.Timeout | null = null;
  private readonly operations = new Operations();

  constructor({ socket, hooks, extra, initWaitMs = CONNECTION_INIT_WAIT_MS }: ProtocolConnectionInput<E>) {
    this.socket = socket;
    this.hooks = hooks;
    this.ctx = { extra };
    if (socket.protocol !== GRAPHQL_TRANSPORT_WS_PROTOCOL) {
      this.close(CloseCode.SubprotocolNotAcceptable, 'Subprotocol not acceptable');
      return;
    }
    // As graphql-ws's connectionInitWaitTimeout: 0 or Infinity is no wait (a timer would fire at once).
    if (initWaitMs > 0 && Number.isFinite(initWaitMs))
      this.initWait = setTimeout(() => {
        if (!this.initReceived) this.close(CloseCode.ConnectionInitialisationTimeout, 'Connection initialisation timeout');
      }, initWaitMs);
  }

  received(data: string): void {
    // Closing: what the client sends meanwhile (its init, a subscribe) would only cost checks.
    if (this.closing) return;
    let message: ReturnType<typeof parseMessage>;
    try {
      message = parseMessage(data);
    } catch {
      return this.close(CloseCode.BadRequest, 'Invalid message received');
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        return this.settle(this.init(message.payload));
      case MessageType.Ping:
        return this.socket.send(JSON.stringify(message.payload ? { type: MessageType.Pong, payload: message.payload } : { type: MessageType.Pong }));
      case MessageType.Pong:
        return;
      case MessageType.Subscribe:
        return this.settle(this.start(message));
      case MessageType.Complete: {
        const op = this.operations.get(message.id);
        this.operations.delete(message.id);
        return this.settle(op?.iterator?.return?.());
      }
      default:
        return this.close(CloseCode.BadRequest, `Unexpected message of type ${message.type} received`);
    }
  }

  /** The socket closed: every subscription ends. */
  closed(): void {
    this.clearInitWait();
    const ops = [...this.operations.values()];
    this.operations.clear();
    for (const op of ops) this.settle(op.iterator?.return?.());
  }

  private close(code: number, reason: string): void {
    this.closing = true;
    this.socket.close(code, reason);
  }

  private settle(work: Promise<unknown> | undefined | void): void {
    work?.catch((err: unknown) => this.socket.failed(err));
  }

  private clearInitWait(): void {
    if (this.initWait) clearTimeout(this.initWait);
    this.initWait = null;
  }

  private async init(payload: unknown): Promise<void> {
    if (this.initReceived) return this.close(CloseCode.TooManyInitialisationRequests, 'Too many initialisation requests');
    this.initReceived = true;
    this.clearInitWait();
    if (typeof payload === 'object' && payload !== null && !Array.isArray(payload)) this.ctx.connectionParams = payload as Record<string, unknown>;
    if ((await this.hooks.onConnect(this.ctx)) === false) return this.close(CloseCode.Forbidden, 'Forbidden');
    this.acknowledged = true;
    this.socket.send('{"type":"connection_ack"}');
  }

  private async start({ id, payload }: SubscribeMessage): Promise<void> {
    if (!this.acknowledged) return this.close(CloseCode.Unauthorized, 'Unauthorized');
    if (this.operations.has(id)) return this.close(CloseCode.SubscriberAlreadyExists, closeReason(`Subscriber for ${id} already exists`, 'Subscriber already exists'));
    const op = new Operation(id, this as ProtocolConnection<unknown>);
    this.operations.set(id, op);
    try {
      const checked = this.hooks.onSubscribe(payload);
      if (Array.isArray(checked)) return this.refuse(op, checked);
      const args = checked as ExecutionArgs;
      const operation = getOperationAST(args.document, args.operationName);
      if (!operation) return this.refuse(op, [new GraphQLError('Unable to identify operation')]);
      args.contextValue = await this.hooks.context(this.ctx);
      const result = operation.operation === 'subscription' ? await this.hooks.subscribe(args) : await execute(args);
      this.hooks.onOperation?.(args, result);
      if (Symbol.asyncIterator in result) {
        // Completed by the client (or the socket closed) while it was starting.
        if (this.operations.get(id) !== op) return void (await result.return?.(undefined));
        op.iterator = result;
        return this.pump(op);
      }
      if (this.operations.get(id) === op) {
        this.sendNext(op, result);
        this.socket.send(`{"id":${JSON.stringify(id)},"type":"complete"}`);
      }
      this.end(op);
    } catch (err) {
      this.end(op);
      throw err;
    }
  }

  /** Reads the next result and sends it, again and again: the operation is its iterator's sink. */
  private pump(op: Operation): void {
    takeFrom(op.iterator!, op);
  }

  /** An operation's next result. */
  delivered(op: Operation, r: IteratorResult<ExecutionResult>): void {
    if (this.operations.get(op.id) !== op) return;
    if (r.done) {
      this.socket.send(`{"id":${JSON.stringify(op.id)},"type":"complete"}`);
      return this.end(op);
    }
    this.sendNext(op, r.value);
    this.pump(op);
  }

  /**
   * An operation's source stream failed: as graphql-ws, its message becomes the operation's error
   * message. Unlike graphql-ws's for-await, the iterator is then returned: a stage that failed
   * deciding or executing an event (ChestWatch, SharedSubscription) has not let go of its own
   * source, and the bus subscriber under it would otherwise stay and queue every later event.
   */
  streamFailed(op: Operation, err: unknown): void {
    if (this.operations.get(op.id) !== op) return;
    const original = err instanceof Error ? err : new Error(String(err));
    try {
      this.refuse(op, [new GraphQLError(original.message, { originalError: original })]);
    } catch (failure) {
      this.socket.failed(failure);
    }
    this.end(op);
    this.settle(op.iterator?.return?.());
  }

  private sendNext(op: Operation, result: ExecutionResult): void {
    try {
      this.socket.send(`${op.nextPrefix}${textOf(this.hooks.onNext(result))}}`);
    } catch (err) {
      this.socket.failed(err);
    }
  }

  /** An error message ends the operation (no complete follows). */
  private refuse(op: Operation, errors: readonly GraphQLError[]): void {
    if (this.operations.get(op.id) === op) this.socket.send(`{"id":${JSON.stringify(op.id)},"type":"error","payload":${JSON.stringify(this.hooks.onError(errors))}}`);
    this.end(op);
  }

  private end(op: Operation): void {
    if (this.operations.get(op.id) === op) this.operations.delete(op.id);
  }
}

/** A close reason holds at most 123 bytes (RFC 6455): a longer one (a client-chosen id, an error's message) gives way to `fallback`. */
export function closeReason(reason: string, fallback: string): string {
  return Buffer.byteLength(reason) <= 123 ? reason : fallback;
}

/**
 * A connection's operations by id. Almost every socket runs one (a memorial page's live
 * subscription), so that one is kept in a field and a Map (a hash table of its own) is made only
 * for a second.
 */
class Operations {
  private only: Operation | null = null;
  private more: Map<string, Operation> | null = null;

  get(id: string): Operation | undefined {
    return this.only?.id === id ? this.only : this.more?.get(id);
  }

  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  set(id: string, op: Operation): void {
    if (this.only === null || this.only.id === id) this.only = op;
    else (this.more ??= new Map()).set(id, op);
  }

  delete(id: string): void {
    if (this.only?.id === id) this.only = null;
    else this.more?.delete(id);
  }

  values(): Operation[] {
    return [...(this.only ? [this.only] : []), ...(this.more?.values() ?? [])];
  }

  clear(): void {
    this.only = null;
    this.more = null;
  }
}
