import { type Client, createClient } from 'graphql-ws';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient } from '../support/client.js';
import { startTestServer, type TestServer } from '../support/server.js';

/**
 * Variables that GraphQL cannot coerce — wrong types deep inside an input object, out-of-range
 * dates, objects where scalars belong — sent over graphql-ws by a real client: each is the
 * client's mistake (BAD_USER_INPUT), as over HTTP, and none of them is logged as our error.
 */
const CASES: [string, string, Record<string, unknown>][] = [
  ['a number inside a list of tags', 'mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { id } }', { i: { tags: ['pier', 1, { deep: [null] }] } }],
  ['an object as a caption', 'mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { id } }', { i: { caption: { nested: { deeper: 'x' } } } }],
  ['a field the input does not have', 'mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { id } }', { i: { caption: 'x', owner: { id: 1 } } }],
  ['a string where an input object belongs', 'mutation($a: ID!, $i: UpdateMemoryInput!) { updateMemory(assetId: $a, input: $i) { id } }', { i: 'caption' }],
  ['a list as a LocalDate', 'mutation($i: CreateChestInput!) { createChest(input: $i) { id } }', { i: { personName: 'Rose', birthDate: ['1950-01-01'] } }],
  ['year 0 as a LocalDate', 'mutation($i: CreateChestInput!) { createChest(input: $i) { id } }', { i: { personName: 'Rose', birthDate: '0000-01-01' } }],
  ['an object as a DateTimeISO', 'mutation($c: ID!, $e: DateTimeISO) { createShareLink(chestId: $c, expiresAt: $e) { token } }', { e: { year: 2030 } }],
  ['a number as a DateTimeISO', 'mutation($c: ID!, $e: DateTimeISO) { createShareLink(chestId: $c, expiresAt: $e) { token } }', { e: 8.64e15 + 1 }],
  ['an unknown enum value', 'mutation($i: GenerateStoryInput!) { generateStory(input: $i) { id } }', { i: { style: 'EPIC' } }],
  ['a float too big for a SafeInt', 'query($c: ID!, $s: SafeInt) { chestEvents(chestId: $c, since: $s) { lastSeq } }', { s: 1e300 }],
  ['an object as an ID in a subscription', 'subscription($c: ID!) { memoryAdded(chestId: $c) { id } }', { c: { id: 'x' } }],
  ['a missing required variable', 'subscription($c: ID!) { memoryAdded(chestId: $c) { id } }', { c: null }],
];

function run(client: Client, query: string, variables: Record<string, unknown>): Promise<{ results: any[]; error: any }> {
  return new Promise((resolve) => {
    const results: any[] = [];
    client.subscribe({ query, variables }, { next: (r) => results.push(r), error: (error) => resolve({ results, error }), complete: () => resolve({ results, error: null }) });
  });
}

describe('malformed variables over graphql-ws', () => {
  let server: TestServer;
  let client: Client;
  let ids: Record<string, string>;
  const logged: string[] = [];

  beforeAll(async () => {
    server = await startTestServer({}, { log: pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) }) });
    const api = apiClient(server.app.url());
    const token = await api.signUp('owner@example.test');
    const chestId = await api.createChest(token);
    ids = { c: chestId, a: '00000000-0000-4000-8000-000000000000' };
    client = createClient({ url: `${server.app.url().replace(/^http/, 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0, lazy: false, onNonLazyError: () => undefined });
  }, 60_000);
  afterAll(async () => {
    await client?.dispose();
    await server?.stop();
  });

  it.each(CASES)('%s is BAD_USER_INPUT and logs nothing', async (_name, query, variables) => {
    logged.length = 0;
    const { results, error } = await run(client, query, { ...ids, ...variables });
    const errors: any[] = Array.isArray(error) ? error : (results.flatMap((r) => r.errors ?? []) as any[]);
    expect(errors.length).toBeGreaterThan(0);
    for (const e of errors) {
      expect(e.extensions?.code).toBe('BAD_USER_INPUT');
      expect(e.message).not.toMatch(/Internal server error|at .*\.ts:\d+/);
    }
    expect(logged).toEqual([]);
  });

  it('the same variables over HTTP are BAD_USER_INPUT too', async () => {
    const api = apiClient(server.app.url());
    const token = await api.signUp('second@example.test');
    logged.length = 0;
    for (const [, query, variables] of CASES.filter(([, q]) => !q.startsWith('subscription'))) {
      const res = await api.gql(query, { ...ids, ...variables }, token);
      expect(res.errors?.length).toBeGreaterThan(0);
      expect(new Set(res.errors?.map((e) => e.extensions?.code))).toEqual(new Set(['BAD_USER_INPUT']));
    }
    expect(logged).toEqual([]);
  });
});
