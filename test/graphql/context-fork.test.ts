import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createContext, type ContextDeps } from '../../src/graphql/context.js';
import { withoutRequestState } from '../../src/graphql/shared-execution.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount, makeChest } from '../support/factories.js';
import { createGraphQLRunner, ok } from '../support/graphql.js';

describe('a request forks its EntityManager only when it reads', () => {
  let db: TestDatabase;
  let forks = 0;
  let deps: ContextDeps;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const orm = { em: { fork: () => (forks++, db.orm.em.fork()) } };
    deps = { orm, log: { child: () => ({}) }, config: { secretKey: 'test-secret-key-of-at-least-32-characters', rateLimits: {} } } as unknown as ContextDeps;
  });
  afterAll(async () => {
    await db?.close();
  });

  it('an anonymous context forks none until asked, then one, shared by its loaders', async () => {
    forks = 0;
    const ctx = await createContext(deps, { requestId: 'r1' });
    expect(forks).toBe(0);
    const em = ctx.em;
    expect(ctx.em).toBe(em);
    expect(ctx.loaders).toBe(ctx.loaders);
    expect(forks).toBe(1);
  });

  it("a subscription's kept context is copied without running the lazy getters (no EntityManager, no loaders per subscriber)", async () => {
    forks = 0;
    const ctx = await createContext(deps, { requestId: 'r4' });
    const kept = withoutRequestState(ctx);
    expect(forks).toBe(0);
    expect([kept.em, kept.actor, kept.loaders]).toEqual([undefined, undefined, undefined]);
    expect(kept.viewer).toEqual(ctx.viewer);
    // Its own fork still works, for events that bring no EntityManager.
    expect(kept.fork()).not.toBe(kept.fork());
    expect(forks).toBe(2);
  });

  it('a signed-in context forks one for the session lookup and keeps it', async () => {
    const { account, token } = await makeAccount(db.orm.em.fork());
    forks = 0;
    const ctx = await createContext(deps, { requestId: 'r2', authorization: `Bearer ${token}` });
    expect(ctx.actor.accountId).toBe(account.id);
    expect(forks).toBe(1);
    void ctx.em;
    expect(forks).toBe(1);
  });

  it('a role looked up later uses the same fork', async () => {
    const { account, token } = await makeAccount(db.orm.em.fork());
    const chest = await makeChest(db.orm.em.fork(), {}, account);
    forks = 0;
    const ctx = await createContext(deps, { requestId: 'r3', authorization: `Bearer ${token}` });
    expect(await ctx.actor.roles.load(chest.id)).toBe('OWNER');
    expect(forks).toBe(1);
  });

  it('through Apollo, which copies the context for each operation, { __typename } forks nothing and a chest query one', async () => {
    const gql = await createGraphQLRunner(db.orm);
    const { account, token } = await makeAccount(db.orm.em.fork());
    const chest = await makeChest(db.orm.em.fork(), { personName: 'Ada' }, account);
    const fork = vi.spyOn(db.orm.em, 'fork');
    try {
      db.queries.length = 0;
      expect(ok(await gql.run('{ __typename }')).__typename).toBe('Query');
      expect(db.queries).toEqual([]);
      expect(fork).toHaveBeenCalledTimes(0);
      expect(ok(await gql.run('query($id: ID!) { chest(id: $id) { personName myRole } }', { id: chest.id }, { token })).chest).toEqual({ personName: 'Ada', myRole: 'OWNER' });
      expect(fork).toHaveBeenCalledTimes(1);
    } finally {
      fork.mockRestore();
      await gql.stop();
    }
  });
});
