import { createHmac } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import type { Config } from '../config.js';
import { authenticate } from '../domain/account/account.service.js';
import { type Actor, createActor } from '../domain/actor.js';
import { openShareLink } from '../domain/chest/chest-links.service.js';
import { AppError } from '../domain/errors.js';
import type { Viewer } from '../domain/events/chest-watch.js';
import type { Logger } from '../logger.js';
import type { StorageBackend } from '../storage/storage.port.js';
import type { EventBus } from '../events/events.port.js';
import type { JobQueue } from '../jobs/jobs.port.js';
import { createLoaders, type Loaders } from './loaders.js';

export interface Context {
  /** Forked per request: nothing one request loads is seen by another. */
  em: EntityManager;
  actor: Actor;
  /** The bearer token the request came with (signOut revokes it). */
  sessionToken: string | null;
  /** The view link token the request came with, if any (subscriptions re-check it per event). */
  shareToken: string | null;
  /** Who is asking, as subscriptions re-check it before every event. */
  viewer: Viewer;
  /** A new EntityManager, for work that must not see this request's cached entities (per-event checks). */
  fork: () => EntityManager;
  /** Keyed hash of the client address, for rate limits. */
  clientHash: string;
  loaders: Loaders;
  requestId: string;
  log: Logger;
  config: Pick<Config, 'maxPageSize' | 'sessionTtlMs' | 'contributionLimits' | 'secretKey' | 'uploads'>;
  storage: StorageBackend;
  events: EventBus;
  queue: JobQueue;
}

export interface ContextDeps {
  orm: MikroORM;
  log: Logger;
  config: Pick<Config, 'maxPageSize' | 'sessionTtlMs' | 'contributionLimits' | 'secretKey' | 'uploads'>;
  storage: StorageBackend;
  events: EventBus;
  queue: JobQueue;
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
  const em = deps.orm.em.fork();
  const sessionToken = bearer(req.authorization);
  let accountId: string | null = null;
  if (sessionToken !== null) {
    try {
      accountId = await authenticate(em, sessionToken);
    } catch (err) {
      if (err instanceof AppError) throw new GraphQLError(err.message, { extensions: { code: err.code, http: { status: 401 } } });
      throw err;
    }
  }
  const actor = createActor(em, accountId);
  // A share token grants reading its chest for the whole request; a bad one grants nothing.
  if (req.shareToken) await openShareLink(em, actor, req.shareToken).catch(() => undefined);
  return {
    em,
    actor,
    sessionToken,
    shareToken: req.shareToken ?? null,
    viewer: { accountId, sessionToken, shareToken: req.shareToken ?? null },
    fork: () => deps.orm.em.fork(),
    clientHash: createHmac('sha256', deps.config.secretKey).update(req.clientAddress ?? 'unknown').digest('hex'),
    loaders: createLoaders(em),
    requestId: req.requestId,
    log: deps.log.child({ requestId: req.requestId }),
    config: deps.config,
    storage: deps.storage,
    events: deps.events,
    queue: deps.queue,
  };
}

function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)$/i.exec(header.trim());
  // A malformed header is treated as a bad token: the client meant to authenticate.
  return m ? m[1]! : header;
}
