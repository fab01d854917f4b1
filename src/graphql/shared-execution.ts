import { createSourceEventStream, execute, type ExecutionArgs, type ExecutionResult, print } from 'graphql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Actor } from '../domain/actor.js';
import { type Context, REQUEST_STATE } from './context.js';
import { createLoaders } from './loaders.js';
import { subscriptionOpened } from '../metrics/graphql-plugin.js';
import { carriesViewerPerEvent } from '../domain/events/chest-watch.js';

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
const results = new WeakMap<object, Map<string, Promise<ExecutionResult>>>();

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
  const key = JSON.stringify([text, args.operationName ?? null, args.variableValues ?? {}, ctx.viewer.accountId, ctx.viewer.shareToken]);

  const run = (payload: SharedPayload): Promise<ExecutionResult> => {
    subscriptionStats.executed++;
    const em = payload.em ?? ctx.fork();
    const actor = payload.actor ?? ctx.actor;
    if (!actor) throw new Error('sharedSubscribe: an event without its subscriber');
    const contextValue: Context = { ...ctx, em, actor, loaders: createLoaders(em) };
    return Promise.resolve(execute({ ...args, rootValue: payload, contextValue }));
  };
  const source = stream as AsyncIterableIterator<SharedPayload>;
  const tracked = subscriptionOpened();
  const resultFor = (payload: SharedPayload): Promise<ExecutionResult> => {
    subscriptionStats.delivered++;
    tracked.delivered();
    const shared = payload?.event;
    if (!shared) return run(payload);
    let byKey = results.get(shared);
    if (!byKey) results.set(shared, (byKey = new Map()));
    let result = byKey.get(key);
    if (!result) byKey.set(key, (result = run(payload)));
    return result;
  };
  // An iterator object, not an async generator: a generator waiting for the next event would
  // queue return() behind it, keeping an unsubscribed socket's listener until the next event.
  const mapped: AsyncGenerator<ExecutionResult> = {
    async next() {
      const r = await source.next().catch((err: unknown) => {
        tracked.closed();
        throw err;
      });
      if (r.done) tracked.closed();
      return r.done ? { done: true, value: undefined } : { done: false, value: await resultFor(r.value) };
    },
    async return() {
      tracked.closed();
      await source.return?.();
      return { done: true, value: undefined };
    },
    async throw(err: unknown) {
      tracked.closed();
      await source.return?.();
      throw err;
    },
    [Symbol.asyncIterator]() {
      return mapped;
    },
    async [Symbol.asyncDispose]() {
      tracked.closed();
      await source.return?.();
    },
  };
  return mapped;
}

/**
 * The context without its EntityManager, actor and loaders (nor the state the lazy ones are kept
 * in, graphql/context.ts), as a plain object: what an idle subscriber keeps.
 */
export function withoutRequestState(ctx: Context): Context {
  const kept: Record<string | symbol, unknown> = { ...ctx };
  delete kept[REQUEST_STATE];
  return { ...kept, em: undefined, actor: undefined, loaders: undefined } as unknown as Context;
}
