import type { MikroORM } from '@mikro-orm/postgresql';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Actor } from '../domain/actor.js';
import type { Logger } from '../logger.js';
import { createLoaders, type Loaders } from './loaders.js';

export interface Context {
  /** Forked per request: nothing one request loads is seen by another. */
  em: EntityManager;
  actor: Actor;
  loaders: Loaders;
  requestId: string;
  log: Logger;
  maxPageSize: number;
}

export interface ContextDeps {
  orm: MikroORM;
  log: Logger;
  maxPageSize: number;
}

export function createContext(deps: ContextDeps, actor: Actor, requestId: string): Context {
  const em = deps.orm.em.fork();
  return { em, actor, loaders: createLoaders(em), requestId, log: deps.log.child({ requestId }), maxPageSize: deps.maxPageSize };
}
