import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult, print } from 'graphql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Actor } from '../domain/actor.js';
import { type Context, REQUEST_STATE } from './context.js';
import { createLoaders } from './loaders.js';
import { subscriptionOpened } from '../metrics/graphql-plugin.js';
import { carriesViewerPerEvent } from '../domain/events/chest-watch.js';
import { Outcome, type OutcomeReader, Relay } from '../events/take.js';

/** Counts for tests and metrics: selections executed vs events delivered to sockets. */
export const subscriptionStats = { executed: 0, delivered: 0 };

/** What a subscription source may attach to its payloads (see WatchedChestEvent). */
interface SharedPayload {
  /** The bus message every subscriber in this process received as the same object. */
  event?: object;
  actor?: Actor;
  em?: EntityManager;
}

const printed = new WeakMap<object, string>();
/** Per bus message, the execution per distinct subscription; collected with the message. */
const results = new WeakMap<object, Map<string, Outcome<IteratorYieldResult<ExecutionResult>>>>();

/**
 * The one copy of each recent key: ten thousand subscribers of one memorial with the same
 * document and viewer hold one string (it holds the document's text) instead of one each.
 * Bounded; a key past the bound is used as it is.
 */
const keys = new Map<string, string>();
const MAX_KEYS = 4096;
function sharedKey(key: string): string {
  const known = keys.get(key);
  if (known !== undefined) return known;
  if (keys.size >= MAX_KEYS) keys.delete(keys.keys().next().value!);
  keys.set(key, key);
  return key;
}

/**
 * graphql-ws `subscribe`: like graphql-js's, but each event's selection is executed once per
 * distinct subscription (same document, variables and viewer) rather than once per socket, so
 * fifty open tabs on a public memorial cost one execution per event. Access was already checked
 * per subscriber by the source stream; the viewer (account and view link) is part of the key
 * because what a selection shows depends on it (locations, originals). Each execution gets its
 * own loaders and the subscriber's actor as of that event, so nothing is cached across events.
 */
export async function sharedSubscribe(args: ExecutionArgs): Promise<AsyncGenerator<ExecutionResult> | ExecutionResult> {
  const stream = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in stream)) return stream as ExecutionResult;
  let ctx = args.contextValue as Context;
  if (carriesViewerPerEvent(stream)) {
    // Each event brings the subscriber's actor and EntityManager as of that event (checked then):
    // the ones the subscription was opened with, and their loaders, are not needed again. Let
    // them go (graphql-ws keeps these arguments for as long as the socket subscribes), so an idle
    // subscriber holds no EntityManager, identity map or loaders.
    ctx = withoutRequestState(ctx);
    args.contextValue = ctx;
  }
  let text = printed.get(args.document);
  if (text === undefined) printed.set(args.document, (text = print(args.document)));
  const key = sharedKey(JSON.stringify([text, args.operationName ?? null, args.variableValues ?? {}, ctx.viewer.accountId, ctx.viewer.shareToken]));

  return new SharedSubscription({ source: stream as AsyncIterableIterator<SharedPayload>, args, ctx, key });
}

interface SharedSubscriptionInput {
  source: AsyncIterableIterator<SharedPayload>;
  args: ExecutionArgs;
  ctx: Context;
  /** Subscriptions with the same key share each event's execution. */
  key: string;
}

/**
 * One socket's subscription: its events mapped to results. An object with its methods on the
 * prototype, not an async generator or a set of closures: an idle memorial can hold ten thousand
 * of these. (A generator waiting for the next event would also queue return() behind it, keeping
 * an unsubscribed socket's listener until the next event.)
 */
class SharedSubscription extends Relay<ExecutionResult, SharedPayload> implements AsyncGenerator<ExecutionResult>, OutcomeReader<IteratorYieldResult<ExecutionResult>> {
  private readonly tracked = subscriptionOpened();
  // The input's fields on the object itself: one object per subscriber, not two. As a Relay, it is
  // its source's sink and its result's reader: an idle subscriber holds nothing here but the
  // object, and an event allocates nothing per socket.
  private readonly args: ExecutionArgs;
  private readonly ctx: Context;
  private readonly key: string;

  constructor({ source, args, ctx, key }: SharedSubscriptionInput) {
    super(source);
    this.args = args;
    this.ctx = ctx;
    this.key = key;
  }

  /** Sink: the source's next event. */
  result(r: IteratorResult<SharedPayload>): void {
    if (r.done) {
      this.tracked.closed();
      return this.handOn(r);
    }
    try {
      this.resultFor(r.value).read(this);
    } catch (err) {
      this.failed(err);
    }
  }

  /** Sink: the source failed. */
  override error(err: unknown): void {
    this.tracked.closed();
    super.error(err);
  }

  /** Reader: the event's result for this subscription's key (one object for all its sockets). */
  settled(r: IteratorYieldResult<ExecutionResult>): void {
    this.handOn(r);
  }

  async return(): Promise<IteratorResult<ExecutionResult>> {
    this.tracked.closed();
    await this.source.return?.();
    return { done: true, value: undefined };
  }


  private resultFor(payload: SharedPayload): Outcome<IteratorYieldResult<ExecutionResult>> {
    subscriptionStats.delivered++;
    this.tracked.delivered();
    const shared = payload?.event;
    if (!shared) return new Outcome(this.run(payload).then(yielded));
    let byKey = results.get(shared);
    if (!byKey) results.set(shared, (byKey = new Map()));
    let result = byKey.get(this.key);
    if (!result) byKey.set(this.key, (result = new Outcome(this.run(payload).then(yielded))));
    return result;
  }

  private run(payload: SharedPayload): Promise<ExecutionResult> {
    subscriptionStats.executed++;
    const { ctx, args } = this;
    const em = payload.em ?? ctx.fork();
    const actor = payload.actor ?? ctx.actor;
    if (!actor) return Promise.reject(new Error('sharedSubscribe: an event without its subscriber'));
    const contextValue: Context = { ...ctx, em, actor, loaders: createLoaders(em) };
    return Promise.resolve(execute({ ...args, rootValue: payload, contextValue }));
  }
}

const yielded = (value: ExecutionResult): IteratorYieldResult<ExecutionResult> => ({ done: false, value });

/**
 * The context without its EntityManager, actor and loaders (nor the state the lazy ones are kept
 * in, graphql/context.ts), as a plain object: what an idle subscriber keeps.
 */
export function withoutRequestState(ctx: Context): Context {
  const kept: Record<string | symbol, unknown> = { ...ctx };
  delete kept[REQUEST_STATE];
  return { ...kept, em: undefined, actor: undefined, loaders: undefined } as unknown as Context;
}
