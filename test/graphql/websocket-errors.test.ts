import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GraphQLBoolean, GraphQLError, GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString } from 'graphql';
import { type Client, createClient } from 'graphql-ws';
import { pino } from 'pino';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session } from '../../src/db/entities/index.js';
import { AppError, ErrorCode } from '../../src/domain/errors.js';
import type { ContextDeps } from '../../src/graphql/context.js';
import { attachWebSockets } from '../../src/graphql/websocket.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { makeAccount } from '../support/factories.js';

// A bug, not an outage (a lost connection is SERVICE_UNAVAILABLE, see test/outages.e2e.test.ts).
const SQL = 'select "m0".* from "membership" as "m0" where "m0"."account_id" = $1 - column m0.role_x does not exist';

/** How each `ticks(fail:)` stream breaks after its first event. */
const failures: Record<string, () => Error> = {
  internal: () => new Error(SQL),
  // A code that would pass as a request error must not carry an internal message out either.
  coded: () => new GraphQLError(SQL, { extensions: { code: 'BAD_USER_INPUT' } }),
  domain: () => new AppError(ErrorCode.NOT_FOUND, 'Chest not found'),
};

/** A schema of our own, so a stream can fail on cue; the websocket layer under it is the real one. */
const schema = new GraphQLSchema({
  query: new GraphQLObjectType({ name: 'Query', fields: { ok: { type: GraphQLBoolean, resolve: () => true } } }),
  subscription: new GraphQLObjectType({
    name: 'Subscription',
    fields: {
      ticks: {
        type: GraphQLInt,
        args: { fail: { type: GraphQLString } },
        async *subscribe(_root, args: { fail?: string }) {
          yield { ticks: 1 };
          throw failures[args.fail ?? 'internal']!();
        },
      },
    },
  }),
});

/** A graphql-ws client that reports a closed socket to the operation's sink only (no console noise). */
const connect = (url: string, token?: string): Client =>
  createClient({ url, webSocketImpl: WebSocket, connectionParams: token ? { authorization: `Bearer ${token}` } : {}, retryAttempts: 0, onNonLazyError: () => undefined, lazy: false });

interface Outcome {
  results: unknown[];
  error: any;
}

/** Runs one operation to its end: what it delivered, and the error (payload or close event) it ended with. */
function run(client: Client, query: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const results: unknown[] = [];
    client.subscribe({ query }, { next: (r) => results.push(r), error: (error) => resolve({ results, error }), complete: () => resolve({ results, error: null }) });
  });
}

describe('errors over websockets go through the error catalogue', () => {
  let db: TestDatabase;
  let server: Server;
  let dispose: () => void | Promise<void>;
  let url: string;
  const logged: string[] = [];
  // Switched on to make building a context fail with a database error.
  let databaseDown = false;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    const log = pino({ level: 'error' }, { write: (line: string) => void logged.push(line) });
    const orm = {
      em: {
        fork: () => {
          if (databaseDown) throw new Error(SQL);
          return db.orm.em.fork();
        },
      },
    };
    const deps = { orm, log, config: { secretKey: 'test-secret' } } as unknown as ContextDeps;
    server = createServer();
    ({ dispose } = attachWebSockets(server, schema, deps));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  });
  afterAll(async () => {
    await dispose?.();
    await new Promise((r) => server?.close(r));
    await db?.close();
  });

  it('gives a validation error its message and GRAPHQL_VALIDATION_FAILED', async () => {
    const client = connect(url);
    const { results, error } = await run(client, 'subscription { nope }');
    expect(results).toEqual([]);
    expect(error).toEqual([{ message: 'Cannot query field "nope" on type "Subscription".', locations: [{ line: 1, column: 16 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } }]);
    await client.dispose();
  });

  it.each(['internal', 'coded'])('hides a stream that throws an %s error mid-stream, and logs it', async (fail) => {
    logged.length = 0;
    const client = connect(url);
    const { results, error } = await run(client, `subscription { ticks(fail: "${fail}") }`);
    expect(results).toEqual([{ data: { ticks: 1 } }]);
    expect(error).toEqual([{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
    expect(logged.join('\n')).toContain('column m0.role_x does not exist');
    await client.dispose();
  });

  it('keeps a domain error thrown mid-stream as it is', async () => {
    const client = connect(url);
    const { error } = await run(client, 'subscription { ticks(fail: "domain") }');
    expect(error).toEqual([{ message: 'Chest not found', extensions: { code: 'NOT_FOUND' } }]);
    await client.dispose();
  });

  it('closes with a generic reason when the context cannot be built, and logs the cause', async () => {
    logged.length = 0;
    // Signed in, so building the context asks the database (an anonymous one forks no EntityManager).
    const { token } = await makeAccount(db.orm.em.fork());
    const client = connect(url, token);
    // The connection is acknowledged before the database goes away.
    await run(client, '{ ok }');
    databaseDown = true;
    try {
      const { error } = await run(client, 'subscription { ticks }');
      expect({ code: error.code, reason: error.reason }).toEqual({ code: 4500, reason: 'Internal server error' });
    } finally {
      databaseDown = false;
    }
    expect(logged.join('\n')).toContain('column m0.role_x does not exist');
    await client.dispose();
  });

  it('keeps the message of an UNAUTHENTICATED context as the close reason', async () => {
    const { token, account } = await makeAccount(db.orm.em.fork());
    const client = connect(url, token);
    await run(client, '{ ok }');
    await db.orm.em.fork().nativeUpdate(Session, { account }, { revokedAt: new Date() });
    const { error } = await run(client, 'subscription { ticks }');
    expect({ code: error.code, reason: error.reason }).toEqual({ code: 4500, reason: 'Session is invalid or has expired; sign in again' });
    await client.dispose();
  });
});
