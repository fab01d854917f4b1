import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, eventually } from './support/client.js';
import { startTwoApis, type TwoApis } from './support/two-apis.js';

/**
 * Each API process believes a live session for SESSION_CACHE_SECONDS without asking the
 * database. A sign-out must still stop the session at once on the process that ran it, and on
 * the others as soon as its notification arrives: here the cache lasts 60 s, so a refusal within
 * the wait below can only come from the notification, not from the entry running out.
 */
describe('sign-out on one API process, with sessions cached on both', () => {
  let apis: TwoApis;
  let api1: string;
  let api2: string;

  beforeAll(async () => {
    apis = await startTwoApis({ SESSION_CACHE_SECONDS: '60' });
    [api1, api2] = apis.urls;
  }, 240_000);

  afterAll(() => apis?.close());

  it('is refused at once on the same process and, through the notification, on the other', { timeout: 60_000 }, async () => {
    const one = apiClient(api1);
    const two = apiClient(api2);
    const token = await one.signUp('revoke@example.com');
    const VIEWER = '{ viewer { id } }';
    // Both processes now believe the session.
    const id = (await one.must(VIEWER, {}, token)).viewer.id as string;
    expect((await two.must(VIEWER, {}, token)).viewer.id).toBe(id);
    expect((await two.must(VIEWER, {}, token)).viewer.id).toBe(id);

    expect((await one.must('mutation { signOut }', {}, token)).signOut).toBe(true);
    expect((await one.gql(VIEWER, {}, token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const refused = await eventually(async () => {
      const r = await two.gql(VIEWER, {}, token);
      return r.errors ? r.errors[0]!.extensions?.code : undefined;
    }, 20_000, 50);
    expect(refused).toBe('UNAUTHENTICATED');
    // And it stays refused on both.
    expect((await two.gql(VIEWER, {}, token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect((await one.gql(VIEWER, {}, token)).errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});
