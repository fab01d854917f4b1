import { GraphQLError } from 'graphql';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import { authenticate } from '../domain/account/account.service.js';
import type { SessionRevocations } from '../domain/account/session-cache.js';
import { type Actor, createActor } from '../domain/actor.js';
import { openShareLinkAsClient } from '../domain/chest/share-link-guard.js';
import { AppError } from '../domain/errors.js';
import type { ClientGuard } from '../domain/rate-limit/client-guard.js';
import { RateLimitedError, RateLimiter } from '../domain/rate-limit/rate-limiter.js';
import type { Viewer } from '../domain/events/chest-watch.js';
import type { Logger } from '../logger.js';
import type { StorageBackend } from '../storage/storage.port.js';
import type { EventBus } from '../events/events.port.js';
import type { JobQueue } from '../jobs/jobs.port.js';
import { createLoaders, type Loaders } from './loaders.js';
import { rateLimitedGraphQLError } from './rate-limited.js';

export interface Context {
  /** Forked per request: nothing one request loads is seen by another. */
  em: EntityManager;
  actor: Actor;
  /** The bearer token the request came with (signOut revokes it). */
  sessionToken: string | null;
  /** The process's session cache, which signOut tells (null: none, every request asks the database). */
  sessions: SessionRevocations | null;
  /** The view link token the request came with, if any (subscriptions re-check it per event). */
  shareToken: string | null;
  /** Who is asking, as subscriptions re-check it before every event. */
  viewer: Viewer;
  /** A new EntityManager, for work that must not see this request's cached entities (per-event checks). */
  fork: () => EntityManager;
  /** The rate limiter and this client's address, for use cases that limit guessing. */
  guard: ClientGuard;
  loaders: Loaders;
  requestId: string;
  log: Logger;
  config: Pick<Config, 'maxPageSize' | 'sessionTtlMs' | 'rateLimits' | 'secretKey' | 'trustProxyHops' | 'uploads'>;
  storage: StorageBackend;
  events: EventBus;
  queue: JobQueue;
}

export interface ContextDeps {
  orm: MikroORM;
  log: Logger;
  config: Pick<Config, 'maxPageSize' | 'sessionTtlMs' | 'rateLimits' | 'secretKey' | 'trustProxyHops' | 'uploads'>;
  storage: StorageBackend;
  events: EventBus;
  queue: JobQueue;
  /** Default: one built from config (tests pass their own, with a clock they move). */
  limiter?: RateLimiter;
  /** Live sessions believed for a few seconds (domain/account/session-cache.ts); absent: every request asks the database. */
  sessions?: SessionRevocations;
}

export interface RequestInfo {
  requestId: string;
  /** `Authorization` header value, or the graphql-ws connectionParams equivalent. */
  authorization?: string | null;
  /** `X-Share-Token` header (or connectionParams.shareToken): a view link's token for this request. */
  shareToken?: string | null;
  clientAddress?: string | null;
}

/**
 * One context per request (or websocket connection): a forked EntityManager, the actor behind
 * the bearer token, and that request's loaders. A token that is present but invalid is an
 * UNAUTHENTICATED error, not a silent downgrade to anonymous.
 */
export async function createContext(deps: ContextDeps, req: RequestInfo): Promise<Context> {
  const state = new RequestState(deps.orm);
  const em = () => state.entityManager();
  const sessionToken = bearer(req.authorization);
  let accountId: string | null = null;
  if (sessionToken !== null) {
    try {
      accountId = await authenticate(em(), sessionToken, deps.sessions?.cache);
    } catch (err) {
      if (err instanceof AppError) throw new GraphQLError(err.message, { extensions: { code: err.code, http: { status: 401 } } });
      throw err;
    }
  }
  const actor = createActor(em, accountId);
  const guard: ClientGuard = { limiter: limiterFor(deps), clientAddress: req.clientAddress ?? 'unknown' };
  // A share token grants reading its chest for the whole request; a bad one grants nothing but
  // counts as a guess, and past the limit the whole request is refused (429, Retry-After).
  if (req.shareToken) {
    await openShareLinkAsClient(em(), actor, req.shareToken, guard).catch((err: unknown) => {
      if (err instanceof RateLimitedError) throw rateLimitedGraphQLError(err);
      if (!(err instanceof AppError)) throw err;
    });
  }
  const own: Omit<Context, 'em' | 'loaders'> & { [REQUEST_STATE]: RequestState } = {
    [REQUEST_STATE]: state,
    actor,
    sessionToken,
    sessions: deps.sessions ?? null,
    shareToken: req.shareToken ?? null,
    viewer: { accountId, sessionToken, shareToken: req.shareToken ?? null },
    fork: forkOf(deps.orm),
    guard,
    requestId: req.requestId,
    log: deps.log.child({ requestId: req.requestId }),
    config: deps.config,
    storage: deps.storage,
    events: deps.events,
    queue: deps.queue,
  };
  return Object.assign(Object.create(LAZY) as object, own) as unknown as Context;
}

/** Where a context keeps what it makes when first used (see LAZY). */
export const REQUEST_STATE = Symbol('requestState');

/** A request's EntityManager and loaders, made when first used. */
class RequestState {
  em?: EntityManager;
  loaders?: Loaders;
  constructor(private readonly orm: ContextDeps['orm']) {}
  entityManager(): EntityManager {
    return (this.em ??= this.orm.em.fork());
  }
}

/**
 * The prototype of every context: `em` and `loaders` are forked and built when first read, so a
 * request that reads nothing (`{ __typename }`, a refused document) costs neither (the fork was
 * about 3 % of such a request's CPU). Getters on the prototype, with their state in a property:
 * Apollo shallow-copies the context for each operation (own properties onto an object of the same
 * prototype), and the copy must neither run them nor lose what they made.
 */
const LAZY = {
  get em(): EntityManager {
    return (this as unknown as { [REQUEST_STATE]: RequestState })[REQUEST_STATE].entityManager();
  },
  get loaders(): Loaders {
    const state = (this as unknown as { [REQUEST_STATE]: RequestState })[REQUEST_STATE];
    return (state.loaders ??= createLoaders(state.entityManager()));
  },
};

/** Context.fork: a new EntityManager each call, for work that must not see the request's. */
function forkOf(orm: ContextDeps['orm']): () => EntityManager {
  // One function per ORM, shared by every context (an idle subscriber keeps its context).
  let fork = forks.get(orm);
  if (!fork) forks.set(orm, (fork = () => orm.em.fork()));
  return fork;
}
const forks = new WeakMap<ContextDeps['orm'], () => EntityManager>();

const limiters = new WeakMap<ContextDeps['config'], RateLimiter>();

/** One limiter per server (its rules and key come from the configuration). */
export function limiterFor(deps: ContextDeps): RateLimiter {
  if (deps.limiter) return deps.limiter;
  let limiter = limiters.get(deps.config);
  if (!limiter) limiters.set(deps.config, (limiter = new RateLimiter(deps.config.secretKey, deps.config.rateLimits)));
  return limiter;
}

function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  // A malformed header is treated as a bad token: the client meant to authenticate.
  return m ? m[1]! : header;
}
