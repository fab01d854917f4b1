import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account, Chest, Membership, Session } from '../src/db/entities/index.js';
import { hashToken } from '../src/domain/tokens.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeChest } from './support/factories.js';
import { createGraphQLRunner, failure, ok } from './support/graphql.js';

const SIGN_UP = `mutation($input: SignUpInput!) { signUp(input: $input) { email } }`;
const SIGN_IN = `mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { token expiresAt account { id email displayName } } }`;
const VIEWER = `{ viewer { id email } }`;

describe('accounts and sessions', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm);
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  /** signUp, then signIn for the session (signUp answers none). */
  async function register(input: { email: string; password: string; displayName: string }) {
    ok(await gql.run(SIGN_UP, { input }));
    return ok(await gql.run(SIGN_IN, { e: input.email, p: input.password })).signIn;
  }

  it('the first account adopts chests made before accounts existed; later ones do not', async () => {
    const orphan = await makeChest(db.orm.em.fork(), { personName: 'From before accounts' });
    const first = await register({ email: 'first@example.test', password: 'long enough pw', displayName: 'First' });
    const owners = await db.orm.em.fork().find(Membership, { chest: orphan.id });
    expect(owners.map((m) => [m.account.id, m.role])).toEqual([[first.account.id, 'OWNER']]);
    const later = await makeChest(db.orm.em.fork(), { personName: 'Orphan made later' });
    ok(await gql.run(SIGN_UP, { input: { email: 'second@example.test', password: 'long enough pw', displayName: 'Second' } }));
    expect(await db.orm.em.fork().count(Membership, { chest: later.id })).toBe(0);
  });

  it('signs up, signs in and out; stores only hashes', async () => {
    expect(ok(await gql.run(SIGN_UP, { input: { email: '  Nana@Example.TEST ', password: 'correct horse battery', displayName: 'Nana' } })).signUp).toEqual({
      email: 'nana@example.test',
    });
    const up = ok(await gql.run(SIGN_IN, { e: 'nana@example.test', p: 'correct horse battery' })).signIn;
    expect(up.account).toMatchObject({ email: 'nana@example.test', displayName: 'Nana' });
    expect(up.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const em = db.orm.em.fork();
    const account = await em.findOneOrFail(Account, up.account.id);
    expect(account.passwordHash).toMatch(/^\$argon2id\$/);
    expect(account.passwordHash).not.toContain('correct horse');
    expect(await em.count(Session, { tokenHash: hashToken(up.token) })).toBe(1);
    expect(await em.count(Session, { tokenHash: up.token })).toBe(0);

    expect(ok(await gql.run(VIEWER, {}, { token: up.token })).viewer.email).toBe('nana@example.test');
    expect(ok(await gql.run(VIEWER)).viewer).toBeNull();

    const again = ok(await gql.run(SIGN_IN, { e: 'NANA@example.test', p: 'correct horse battery' })).signIn;
    expect(again.account.id).toBe(up.account.id);
    expect(ok(await gql.run(`mutation { signOut }`, {}, { token: again.token })).signOut).toBe(true);
    expect(failure(await gql.run(VIEWER, {}, { token: again.token })).code).toBe('UNAUTHENTICATED');
    // The other session is untouched.
    expect(ok(await gql.run(VIEWER, {}, { token: up.token })).viewer.id).toBe(up.account.id);
  });

  it.each([
    ['email', { email: 'not-an-email', password: 'long enough pw', displayName: 'X' }],
    ['password', { email: 'p@example.test', password: 'short', displayName: 'X' }],
    ['displayName', { email: 'd@example.test', password: 'long enough pw', displayName: '  ' }],
  ])('rejects a bad %s at sign-up', async (field, input) => {
    expect(failure(await gql.run(SIGN_UP, { input }))).toMatchObject({ code: 'BAD_USER_INPUT', field });
  });

  it('makes no second account with the same email, whatever its case, and answers exactly as for a new one', async () => {
    const first = await gql.run(SIGN_UP, { input: { email: 'dup@example.test', password: 'long enough pw', displayName: 'A' } });
    const taken = await gql.run(SIGN_UP, { input: { email: 'DUP@example.test', password: 'another password', displayName: 'B' } });
    const fresh = await gql.run(SIGN_UP, { input: { email: 'DUP2@example.test', password: 'another password', displayName: 'B' } });
    expect(taken).toEqual(first);
    expect(JSON.stringify(taken).replace('dup@', 'dup2@')).toBe(JSON.stringify(fresh));
    const em = db.orm.em.fork();
    expect((await em.find(Account, { email: 'dup@example.test' })).map((a) => a.displayName)).toEqual(['A']);
    // The taken email's owner keeps their password; the second sign-up changed nothing.
    expect(failure(await gql.run(SIGN_IN, { e: 'dup@example.test', p: 'another password' })).code).toBe('UNAUTHENTICATED');
    ok(await gql.run(SIGN_IN, { e: 'dup@example.test', p: 'long enough pw' }));
  });

  it('answers a wrong password and an unknown email the same way', async () => {
    await register({ email: 'pw@example.test', password: 'the right one!', displayName: 'P' });
    const wrong = failure(await gql.run(SIGN_IN, { e: 'pw@example.test', p: 'the wrong one!' }));
    const unknown = failure(await gql.run(SIGN_IN, { e: 'nobody@example.test', p: 'the wrong one!' }));
    expect(wrong).toEqual(unknown);
    expect(wrong.code).toBe('UNAUTHENTICATED');
  });

  it('refuses expired, revoked, unknown and malformed tokens with UNAUTHENTICATED', async () => {
    const up = await register({ email: 'exp@example.test', password: 'long enough pw', displayName: 'E' });
    await db.orm.em.fork().nativeUpdate(Session, { tokenHash: hashToken(up.token) }, { expiresAt: new Date(Date.now() - 1000) });
    for (const token of [up.token, 'A'.repeat(43), 'garbage']) {
      expect(failure(await gql.run(VIEWER, {}, { token })).code).toBe('UNAUTHENTICATED');
    }
  });

  it('needs an account to open a chest', async () => {
    const res = await gql.run(`mutation { createChest(input: { personName: "X" }) { id } }`);
    expect(failure(res).code).toBe('UNAUTHENTICATED');
    expect(await db.orm.em.fork().count(Chest, { personName: 'X' })).toBe(0);
  });
});
