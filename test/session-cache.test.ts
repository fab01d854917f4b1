import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionCache, sessionCacheOn, type SessionRevocations, SESSION_REVOKED_TOPIC } from '../src/domain/account/session-cache.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount } from './support/factories.js';
import { Session } from '../src/db/entities/index.js';
import { newToken } from '../src/domain/tokens.js';
import { createGraphQLRunner, failure, ok } from './support/graphql.js';

const live = (sessionId: string, accountId = `acc-${sessionId}`, expiresAt = new Date(Date.now() + 86_400_000)) => ({ sessionId, accountId, expiresAt });

describe('SessionCache (its bounds, with a clock the test moves)', () => {
  function cache(ttlMs = 5_000, maxEntries = 100) {
    let now = 1_000_000;
    const c = new SessionCache({ ttlMs, maxEntries, now: () => now });
    return { c, tick: (ms: number) => (now += ms), at: () => now };
  }

  it('believes a live session for the TTL, then asks again', () => {
    const { c, tick } = cache();
    c.remember('h1', live('s1'), c.mark());
    expect(c.get('h1')).toBe('acc-s1');
    tick(4_999);
    expect(c.get('h1')).toBe('acc-s1');
    tick(1);
    expect(c.get('h1')).toBeNull();
    expect(c.size).toBe(0);
  });

  it("never past the session's own expiry", () => {
    const { c, tick, at } = cache();
    c.remember('h1', live('s1', 'a', new Date(at() + 1_000)), c.mark());
    tick(1_000);
    expect(c.get('h1')).toBeNull();
    c.remember('h2', live('s2', 'a', new Date(at() - 1)), c.mark());
    expect(c.get('h2')).toBeNull();
  });

  it('forgets a revoked session at once, and does not remember a lookup that ran while a revocation came', () => {
    const { c } = cache();
    c.remember('h1', live('s1'), c.mark());
    c.forget('s1');
    expect(c.get('h1')).toBeNull();
    // A lookup began, a revocation (of any session) arrived, then the lookup answered "live".
    const mark = c.mark();
    c.forget('s2');
    c.remember('h2', live('s2'), mark);
    expect(c.get('h2')).toBeNull();
  });

  it('holds at most maxEntries, forgetting the oldest first', () => {
    const { c } = cache(5_000, 3);
    for (const i of [1, 2, 3, 4]) c.remember(`h${i}`, live(`s${i}`), c.mark());
    expect(c.size).toBe(3);
    expect(c.get('h1')).toBeNull();
    expect(c.get('h4')).toBe('acc-s4');
  });

  it('TTL 0 (SESSION_CACHE_SECONDS=0) remembers nothing', () => {
    const { c } = cache(0);
    c.remember('h1', live('s1'), c.mark());
    expect(c.get('h1')).toBeNull();
  });

  it('forgets sessions revoked by another process (through the bus), and believes nothing once the bus is gone', async () => {
    const bus = new InProcessEventBus();
    const stop = new AbortController();
    const { cache: c } = sessionCacheOn(bus, stop.signal, { ttlMs: 60_000, maxEntries: 10 });
    c.remember('h1', live('s1'), c.mark());
    bus.publish(SESSION_REVOKED_TOPIC, { sessionId: 's1' });
    await new Promise((r) => setImmediate(r));
    expect(c.get('h1')).toBeNull();
    stop.abort();
    await new Promise((r) => setImmediate(r));
    c.remember('h2', live('s2'), c.mark());
    expect(c.get('h2')).toBeNull();
  });
});

describe('signed-in requests with the session cache', () => {
  let db: TestDatabase;
  let sessions: SessionRevocations;
  const stop = new AbortController();
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    sessions = sessionCacheOn(new InProcessEventBus(), stop.signal);
    gql = await createGraphQLRunner(db.orm, { sessions });
  });
  afterAll(async () => {
    stop.abort();
    await gql?.stop();
    await db?.close();
  });

  const statements = async (query: string, token: string) => {
    db.queries.length = 0;
    const res = await gql.run(query, {}, { token });
    return { res, n: db.queries.length };
  };

  it('a trivial query: one session statement for the first request, none for the next', async () => {
    const { token } = await makeAccount(db.orm.em.fork());
    const first = await statements('{ __typename }', token);
    expect(ok(first.res).__typename).toBe('Query');
    expect(first.n).toBe(1);
    const next = await statements('{ __typename }', token);
    expect(ok(next.res).__typename).toBe('Query');
    expect(next.n).toBe(0);
  });

  it('signOut: the very next request with the token is refused (it asks the database again)', async () => {
    const { account, token } = await makeAccount(db.orm.em.fork());
    expect(ok(await gql.run('{ viewer { id } }', {}, { token })).viewer.id).toBe(account.id);
    expect(ok(await gql.run('mutation { signOut }', {}, { token })).signOut).toBe(true);
    const after = await statements('{ __typename }', token);
    expect(failure(after.res).code).toBe('UNAUTHENTICATED');
    expect(after.n).toBe(1);
    // And stays refused.
    expect(failure((await statements('{ __typename }', token)).res).code).toBe('UNAUTHENTICATED');
  });

  it('signOut ends only its own session; the other stays believed', async () => {
    const em = db.orm.em.fork();
    const { account, token } = await makeAccount(em);
    const { token: other, hash } = newToken();
    em.create(Session, { account, tokenHash: hash, expiresAt: new Date(Date.now() + 86_400_000) });
    await em.flush();
    expect(ok(await gql.run('{ viewer { id } }', {}, { token: other })).viewer.id).toBe(account.id);
    expect(ok(await gql.run('mutation { signOut }', {}, { token })).signOut).toBe(true);
    expect((await statements('{ viewer { id } }', other)).res.data?.viewer.id).toBe(account.id);
  });

  it('an unknown token is never remembered: each request asks', async () => {
    const bad = 'a'.repeat(43);
    for (let i = 0; i < 2; i++) {
      const r = await statements('{ __typename }', bad);
      expect(failure(r.res).code).toBe('UNAUTHENTICATED');
      expect(r.n).toBe(1);
    }
  });
});
