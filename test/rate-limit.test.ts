import { hash } from '@node-rs/argon2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Chest, RateLimitCounter } from '../src/db/entities/index.js';
import { signIn } from '../src/domain/account/account.service.js';
import { createActor } from '../src/domain/actor.js';
import { openShareLinkAsClient } from '../src/domain/chest/share-link-guard.js';
import { getContributionByGuestToken, submitContribution } from '../src/domain/contribution/contribution.service.js';
import { AppError } from '../src/domain/errors.js';
import { pruneRateLimits, RateLimitedError, type RateRules } from '../src/domain/rate-limit/rate-limiter.js';
import { newToken } from '../src/domain/tokens.js';
import { uploadForTicket } from '../src/domain/upload/upload.service.js';
import { InProcessEventBus } from '../src/events/in-process.events.js';
import { BACKENDS, createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeChest, makeContribution } from './support/factories.js';
import { createGraphQLRunner, failure, ok, testGuard, testLimiter, testRateRules } from './support/graphql.js';

const GUESSES = 10_000;
const MINUTE = 60_000;

/** A clock the test moves. */
function clock(start = Date.parse('2030-01-01T00:00:00Z')) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** The error a call failed with (the domain functions throw AppErrors). */
async function refusal(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

const lookupsOf = (queries: string[], column: string) => queries.filter((q) => q.includes(column)).length;

describe.each(BACKENDS)('the rate limiter on %s', (backend) => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase(backend);
  });
  afterAll(async () => {
    await db?.close();
  });

  it('counts up to the limit, refuses with the time left, and starts again when the window ends', async () => {
    const c = clock();
    const limiter = testLimiter(testRateRules({ 'signup-client': { limit: 3, windowMs: 10 * MINUTE } }), c.now);
    const em = db.orm.em.fork();
    for (let i = 0; i < 3; i++) await limiter.take(em, 'signup-client', '192.0.2.1');
    c.advance(4 * MINUTE);
    const refused = await refusal(limiter.take(em, 'signup-client', '192.0.2.1'));
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterSeconds).toBe(6 * 60);
    // Another client, and another bucket for the same client, are counted apart.
    await limiter.take(em, 'signup-client', '192.0.2.2');
    await limiter.check(em, 'share-token', '192.0.2.1');
    c.advance(6 * MINUTE);
    await limiter.take(em, 'signup-client', '192.0.2.1');
    // Nothing identifying is stored: keys are HMACs.
    const keys = (await em.find(RateLimitCounter, {})).map((r) => r.key);
    expect(keys.every((k) => /^[0-9a-f]{64}$/.test(k))).toBe(true);
    expect(keys).not.toContain('192.0.2.1');
  });

  it('with backoff, waits 2^n seconds after the free attempts, never past the window, and refused attempts count nothing', async () => {
    const c = clock();
    const limiter = testLimiter(testRateRules({ 'signin-account': { limit: 2, windowMs: 15 * MINUTE, backoff: true } }), c.now);
    const em = db.orm.em.fork();
    const waits: number[] = [];
    for (let i = 0; i < 40; i++) {
      try {
        await limiter.take(em, 'signin-account', 'rose@example.test');
        waits.push(0);
      } catch (err) {
        const s = (err as RateLimitedError).retryAfterSeconds;
        waits.push(s);
        // A refusal moves nothing: asking again at once gives the same answer.
        expect((await refusal(limiter.take(em, 'signin-account', 'rose@example.test')) as RateLimitedError).retryAfterSeconds).toBe(s);
        c.advance(s * 1000);
      }
    }
    const delays = waits.filter((w) => w > 0);
    expect(delays.slice(0, 6)).toEqual([1, 2, 4, 8, 16, 32]);
    // Never longer than the window, and the counter starts again when it ends.
    expect(Math.max(...delays)).toBeLessThanOrEqual(15 * 60);
    expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(15 * 60);
  });

  it('lets parallel requests through one at a time: exactly the limit succeeds', async () => {
    const limiter = testLimiter(testRateRules({ 'signup-client': { limit: 10, windowMs: MINUTE } }));
    const results = await Promise.allSettled(Array.from({ length: 40 }, () => limiter.take(db.orm.em.fork(), 'signup-client', '198.51.100.7')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof RateLimitedError)).toBe(true);
  });

  it('the sweep removes counters whose window ended', async () => {
    const em = db.orm.em.fork();
    const past = testLimiter(testRateRules(), () => Date.now() - 2 * 3_600_000);
    await past.take(em, 'signup-client', 'old');
    await testLimiter().take(em, 'signup-client', 'current');
    expect(await pruneRateLimits(em)).toBeGreaterThanOrEqual(1);
    expect(await em.count(RateLimitCounter, { key: testLimiter().key('signup-client', 'current') })).toBe(1);
  });
});

describe('10,000 guesses', () => {
  let db: TestDatabase;
  const rules: RateRules = testRateRules();
  const limit = rules['share-token'].limit;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
  });
  afterAll(async () => {
    await db?.close();
  });

  /** Runs `guess` GUESSES times: how many found something, missed (NOT_FOUND, or a wrong password), were refused. */
  async function guessMany(guess: (i: number) => Promise<unknown>) {
    let found = 0;
    let missed = 0;
    let limited = 0;
    for (let i = 0; i < GUESSES; i++) {
      try {
        await guess(i);
        found++;
      } catch (err) {
        if (err instanceof RateLimitedError) limited++;
        else if (err instanceof AppError && (err.code === 'NOT_FOUND' || err.code === 'UNAUTHENTICATED')) missed++;
        else throw err;
      }
    }
    return { found, missed, limited };
  }

  it('of share tokens find nothing, trip the limiter, and past it no lookup runs, not even for the right token', { timeout: 120_000 }, async () => {
    const em = db.orm.em.fork();
    const link = newToken();
    await makeChest(em, { personName: 'Shared', shareTokenHash: link.hash });
    const guard = testGuard('203.0.113.5', testLimiter(rules));
    db.queries.length = 0;
    const r = await guessMany(() => openShareLinkAsClient(db.orm.em.fork(), createActor(em, null), newToken().token, guard));
    expect(r).toEqual({ found: 0, missed: limit, limited: GUESSES - limit });
    expect(lookupsOf(db.queries, 'share_token_hash')).toBe(limit);
    db.queries.length = 0;
    expect(await refusal(openShareLinkAsClient(db.orm.em.fork(), createActor(em, null), link.token, guard))).toBeInstanceOf(RateLimitedError);
    expect(lookupsOf(db.queries, 'share_token_hash')).toBe(0);
    // Another address is not held back, and the family opening the right link is never limited.
    const family = testGuard('198.51.100.20', testLimiter(rules));
    for (let i = 0; i < limit * 3; i++) await openShareLinkAsClient(db.orm.em.fork(), createActor(em, null), link.token, family);
  });

  it('of contribution tokens and guest tokens find nothing and trip the limiter', { timeout: 120_000 }, async () => {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, { personName: 'Open to guests', allowContributions: true, contributionTokenHash: newToken().hash });
    const guest = newToken();
    await makeContribution(em, chest, { guestTokenHash: guest.hash });
    const guard = testGuard('203.0.113.6', testLimiter(rules));
    const events = new InProcessEventBus();
    db.queries.length = 0;
    const sent = await guessMany(() => submitContribution(db.orm.em.fork(), newToken().token, { contributorName: 'Guesser' }, guard, events));
    expect(sent).toEqual({ found: 0, missed: limit, limited: GUESSES - limit });
    expect(lookupsOf(db.queries, 'contribution_token_hash')).toBe(limit);

    db.queries.length = 0;
    const looked = await guessMany(() => getContributionByGuestToken(db.orm.em.fork(), newToken().token, guard));
    expect(looked).toEqual({ found: 0, missed: limit, limited: GUESSES - limit });
    expect(lookupsOf(db.queries, 'guest_token_hash')).toBe(limit);
    expect(await refusal(getContributionByGuestToken(db.orm.em.fork(), guest.token, guard))).toBeInstanceOf(RateLimitedError);
    expect((await getContributionByGuestToken(db.orm.em.fork(), guest.token, testGuard('198.51.100.21', testLimiter(rules)))).id).toBeDefined();
  });

  it('of upload secrets find nothing and trip the limiter', { timeout: 120_000 }, async () => {
    const guard = testGuard('203.0.113.7', testLimiter(rules));
    const id = '00000000-0000-4000-8000-000000000000';
    db.queries.length = 0;
    const r = await guessMany(() => uploadForTicket(db.orm.em.fork(), id, newToken().token, guard));
    expect(r).toEqual({ found: 0, missed: limit, limited: GUESSES - limit });
    expect(lookupsOf(db.queries, 'token_hash')).toBe(limit);
  });

  it('of one account’s password find nothing; a correct password after the delay works; no delay outlasts the window', { timeout: 120_000 }, async () => {
    const em = db.orm.em.fork();
    const { account } = await makeAccount(em, { email: 'owner@example.test', passwordHash: await hash('the owner’s passphrase') });
    const c = clock();
    const accountRules = testRateRules({ 'signin-account': { limit: 5, windowMs: 15 * MINUTE, backoff: true } });
    const limiter = testLimiter(accountRules, c.now);
    // Each guess from a new address: only the per-account limit stands in the way.
    db.queries.length = 0;
    let verified = 0;
    let longest = 0;
    const r = await guessMany(async (i) => {
      try {
        await signIn(db.orm.em.fork(), { email: 'owner@example.test', password: `guess ${i}` }, { ttlMs: MINUTE }, testGuard(`10.1.${i >> 8}.${i & 255}`, limiter));
      } catch (err) {
        if (err instanceof RateLimitedError) longest = Math.max(longest, err.retryAfterSeconds);
        else verified++;
        throw err;
      }
    });
    expect(r.found).toBe(0);
    expect(r.limited).toBe(GUESSES - 5);
    expect(verified).toBe(5);
    // Refused attempts never load the account (nor check a password).
    expect(lookupsOf(db.queries, 'from "account"')).toBe(5);
    expect(longest).toBeLessThanOrEqual(15 * 60);

    // The owner, during the delay: refused (without the password being checked); after it: in.
    const owner = testGuard('192.0.2.50', limiter);
    const wait = (await refusal(signIn(db.orm.em.fork(), { email: 'owner@example.test', password: 'the owner’s passphrase' }, { ttlMs: MINUTE }, owner))) as RateLimitedError;
    c.advance(wait.retryAfterSeconds * 1000);
    const session = await signIn(db.orm.em.fork(), { email: 'owner@example.test', password: 'the owner’s passphrase' }, { ttlMs: MINUTE }, owner);
    expect(session.account.id).toBe(account.id);
    // Signing in ended the delays: a typo now is an ordinary failure, not a wait.
    expect((await refusal(signIn(db.orm.em.fork(), { email: 'owner@example.test', password: 'typo' }, { ttlMs: MINUTE }, owner))).code).toBe('UNAUTHENTICATED');
  });

  it('an attacker who waits out every delay gets only a handful of guesses per window', { timeout: 60_000 }, async () => {
    const em = db.orm.em.fork();
    await makeAccount(em, { email: 'patient@example.test', passwordHash: await hash('unguessable passphrase') });
    const c = clock();
    const limiter = testLimiter(testRateRules({ 'signin-account': { limit: 5, windowMs: 15 * MINUTE, backoff: true } }), c.now);
    const started = c.now();
    let tried = 0;
    for (let i = 0; c.now() - started < 15 * MINUTE; i++) {
      const err = await refusal(signIn(db.orm.em.fork(), { email: 'patient@example.test', password: `guess ${i}` }, { ttlMs: MINUTE }, testGuard(`10.2.0.${i % 250}`, limiter)));
      if (err instanceof RateLimitedError) c.advance(err.retryAfterSeconds * 1000);
      else tried++;
    }
    // 5 free, then waits of 1, 2, 4, ... 512 s until the window's end: 15 in all.
    expect(tried).toBeLessThanOrEqual(16);
  });

  it('signIn from one address is limited across accounts too', async () => {
    const limiter = testLimiter(testRateRules({ 'signin-client': { limit: 3, windowMs: 15 * MINUTE, backoff: true } }));
    const guard = testGuard('203.0.113.9', limiter);
    for (let i = 0; i < 3; i++) {
      expect((await refusal(signIn(db.orm.em.fork(), { email: `nobody${i}@example.test`, password: 'x' }, { ttlMs: MINUTE }, guard))).code).toBe('UNAUTHENTICATED');
    }
    expect(await refusal(signIn(db.orm.em.fork(), { email: 'nobody9@example.test', password: 'x' }, { ttlMs: MINUTE }, guard))).toBeInstanceOf(RateLimitedError);
  });
});

describe('rate limits through GraphQL', () => {
  let db: TestDatabase;
  const c = clock(Date.now());
  const rules = testRateRules({
    'share-token': { limit: 3, windowMs: 5 * MINUTE },
    'signup-client': { limit: 2, windowMs: 60 * MINUTE },
  });
  let one: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let two: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let shareToken: string;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    // Two API instances: separate servers and limiters, one database.
    one = await createGraphQLRunner(db.orm, { limiter: testLimiter(rules, c.now) });
    two = await createGraphQLRunner(db.orm, { limiter: testLimiter(rules, c.now) });
    const link = newToken();
    shareToken = link.token;
    await makeChest(db.orm.em.fork(), { personName: 'Seen by link', shareTokenHash: link.hash });
  });
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await db?.close();
  });

  const BY_TOKEN = `query($t: String!) { chestByShareToken(token: $t) { personName } }`;

  it('counts failures on every instance together; past the limit RATE_LIMITED with retryAfter, even for the right token and in the header', async () => {
    const from = { clientAddress: '203.0.113.40' };
    expect(failure(await one.run(BY_TOKEN, { t: newToken().token }, from)).code).toBe('NOT_FOUND');
    expect(failure(await two.run(BY_TOKEN, { t: newToken().token }, from)).code).toBe('NOT_FOUND');
    expect(failure(await one.run(BY_TOKEN, { t: 'short garbage' }, from)).code).toBe('NOT_FOUND');
    const refused = await two.run(BY_TOKEN, { t: shareToken }, from);
    expect(refused.errors![0]!.extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 300 });
    expect(refused.errors![0]!.message).not.toMatch(/share|token|chest/i);
    // The X-Share-Token header is the same lookup: the whole request is refused.
    const header = await one.run(`{ __typename }`, {}, { ...from, shareToken });
    expect(header.errors![0]!.extensions).toMatchObject({ code: 'RATE_LIMITED', retryAfter: 300 });
    // Others are not held back; after the window the right token works again.
    expect(ok(await one.run(BY_TOKEN, { t: shareToken }, { clientAddress: '198.51.100.40' })).chestByShareToken.personName).toBe('Seen by link');
    c.advance(5 * MINUTE);
    expect(ok(await two.run(BY_TOKEN, { t: shareToken }, from)).chestByShareToken.personName).toBe('Seen by link');
  });

  it('limits signUp per address', async () => {
    const SIGN_UP = `mutation($i: SignUpInput!) { signUp(input: $i) { email } }`;
    const from = { clientAddress: '203.0.113.41' };
    for (const n of [1, 2]) ok(await one.run(SIGN_UP, { i: { email: `new${n}@example.test`, password: 'long enough pw', displayName: 'N' } }, from));
    expect(failure(await two.run(SIGN_UP, { i: { email: 'new3@example.test', password: 'long enough pw', displayName: 'N' } }, from)).code).toBe('RATE_LIMITED');
    expect(await db.orm.em.fork().count(Chest, {})).toBe(1);
  });
});
