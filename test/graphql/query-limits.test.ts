import 'reflect-metadata';
import { getIntrospectionQuery, type GraphQLSchema } from 'graphql';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { precheck } from '../../src/graphql/limits/precheck.js';
import { QUERY_LIMIT_DEFAULTS, type QueryLimits } from '../../src/graphql/limits/query-limits.js';
import { queryLimitStats } from '../../src/graphql/limits/stats.js';
import { createSchema } from '../../src/graphql/schema.js';
import { apiClient } from '../support/client.js';
import { startTestServer, type TestServer } from '../support/server.js';
import { NESTED_CHEST } from '../support/nested-query.js';

const rep = (n: number, f: (i: number) => string) => Array.from({ length: n }, (_, i) => f(i)).join(' ');


/** README "Your first chest": read it back, with everything nested. */
const README_CHEST = `query($id: ID!) {
  chest(id: $id) {
    personName birthDate passingDate myRole
    members { role account { displayName } }
    summary { totalAssets images videos audio documents processed pending failed totalBytes }
    assets(first: 20, types: [IMAGE]) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id filename dateTaken status location { latitude longitude } } }
    }
    stories { edges { node { title status } } }
  }
}`;

/** 100 chests × 100 assets × 6 selections: over the default cost of 50,000 only because `first` multiplies. */
const manyChests = (chests: string) => `query($n: Int) { chests(first: ${chests}) { edges { node { assets(first: 100) { pageInfo { hasNextPage } edges { node { id filename dateTaken status } } } } } } }`;

/** Fragments each spreading the next twice: 2^30 selections from 1 KB. */
const FRAGMENT_BOMB = `${rep(30, (k) => `fragment F${k} on Query { ...F${k + 1} ...F${k + 1} }`)} fragment F30 on Query { __typename } { ...F0 }`;

/** The issue's documents, exactly. */
const HOSTILE = {
  typename32k: `{ ${'__typename '.repeat(32_000)}}`,
  aliases1000: `{ ${rep(1000, (i) => `c${i}: chest(id: "00000000-0000-0000-0000-000000000000") { ${NESTED_CHEST} }`)} }`,
  chestEvents2000: `subscription { ${rep(2000, (i) => `e${i}: chestEvents(chestId: "00000000-0000-0000-0000-000000000000") { lastSeq }`)} }`,
  depth5000: `{${'chest(id: "x") {'.repeat(5000)}id${'}'.repeat(5000)}}`,
  fragmentBomb: FRAGMENT_BOMB,
};

/** One document over each limit (and under all the others), with the limit it must hit. */
const OVER: [keyof QueryLimits, string][] = [
  ['length', `{ __typename } # ${'x'.repeat(QUERY_LIMIT_DEFAULTS.length)}`],
  ['tokens', `{ ${rep(QUERY_LIMIT_DEFAULTS.tokens, (i) => `f${i}`)} }`],
  ['depth', `{ ${'a { '.repeat(QUERY_LIMIT_DEFAULTS.depth)}b${' }'.repeat(QUERY_LIMIT_DEFAULTS.depth)} }`],
  ['aliases', `{ ${rep(QUERY_LIMIT_DEFAULTS.aliases + 1, (i) => `a${i}: __typename`)} }`],
  ['directives', `{ ${rep(QUERY_LIMIT_DEFAULTS.directives + 1, (i) => `f${i} @include(if: true)`)} }`],
  ['repeatedFields', `{ ${'__typename '.repeat(QUERY_LIMIT_DEFAULTS.repeatedFields + 1)}}`],
  ['cost', manyChests('100')],
];

describe('query limits (precheck)', () => {
  let schema: GraphQLSchema;
  beforeAll(async () => {
    schema = await createSchema();
  });
  const check = (query: string, limits: QueryLimits = QUERY_LIMIT_DEFAULTS, variables?: Record<string, unknown>) => precheck({ schema, limits, maxPageSize: 100, query, variables });

  it.each(OVER)('refuses a document over the %s limit with QUERY_TOO_COMPLEX naming it', (limit, query) => {
    const r = check(query);
    expect(r.ok ? null : r.error.extensions).toEqual({ code: 'QUERY_TOO_COMPLEX', limit, max: QUERY_LIMIT_DEFAULTS[limit] });
  });

  it('multiplies what is under a connection by its `first`, from a literal, a variable or the default page', () => {
    const q = manyChests('$n');
    expect(check(q, undefined, { n: 100 }).ok).toBe(false);
    expect(check(q, undefined, { n: 10 }).ok).toBe(true);
    // A variable that is not sent counts as the largest page, not as 1.
    expect(check(q).ok).toBe(false);
    expect(check(manyChests('10')).ok).toBe(true);
    // Omitted: the default page of 20.
    expect(check(manyChests('100').replace('chests(first: 100)', 'chests')).ok).toBe(true);
  });

  it('lets the README and test queries and the explorer’s introspection query through', () => {
    for (const q of [README_CHEST, `query($id: ID!) { chest(id: $id) { ${NESTED_CHEST} } }`, getIntrospectionQuery({ descriptions: true, inputValueDeprecation: true, schemaDescription: true, specifiedByUrl: true, directiveIsRepeatable: true }), '{ __typename }']) {
      const r = check(q);
      expect(r.ok ? 'ok' : r.error.message).toBe('ok');
    }
  });

  it('weighs introspection lists by what they hold', () => {
    // 77 types × about 3.8 fields per type, five lists deep: 60,000 fields, though only 60 selections.
    const nestedTypes = `{ __schema { types { ${'fields { type { '.repeat(5)}name${' } }'.repeat(5)} } } }`;
    const r = check(nestedTypes);
    expect(r.ok ? null : r.error.extensions).toMatchObject({ limit: 'cost' });
  });

  it('refuses every hostile document of the issue by its shape, even with no length or token limit', () => {
    const wide: QueryLimits = { ...QUERY_LIMIT_DEFAULTS, length: Infinity, tokens: Infinity };
    const expected: Record<keyof typeof HOSTILE, keyof QueryLimits> = {
      typename32k: 'repeatedFields',
      aliases1000: 'aliases',
      chestEvents2000: 'aliases',
      depth5000: 'depth',
      fragmentBomb: 'cost',
    };
    for (const [name, query] of Object.entries(HOSTILE) as [keyof typeof HOSTILE, string][]) {
      const r = check(query, wide);
      expect([name, r.ok ? null : r.error.extensions?.limit]).toEqual([name, expected[name]]);
    }
  });

  it('refuses a fragment that spreads itself without looping', () => {
    const r = check('fragment A on Query { ...B } fragment B on Query { ...A } { ...A }');
    expect(r.ok ? null : r.error.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('answers a syntax error as GRAPHQL_PARSE_FAILED', () => {
    const r = check('{ chest(id: ) }');
    expect(r.ok ? null : r.error.extensions?.code).toBe('GRAPHQL_PARSE_FAILED');
  });
});

describe('query limits (settings)', () => {
  const served = { DATABASE_URL: 'postgres://x/y', SECRET_KEY: 'k'.repeat(32) };
  it('introspection is on in the embedded mode and off when served, unless set', () => {
    expect(loadConfig({}).graphql.introspection).toBe(true);
    expect(loadConfig(served).graphql.introspection).toBe(false);
    expect(loadConfig({ ...served, GRAPHQL_INTROSPECTION: 'true' }).graphql.introspection).toBe(true);
    expect(loadConfig({ GRAPHQL_INTROSPECTION: 'false' }).graphql.introspection).toBe(false);
  });
  it('suggestions only in development, unless set', () => {
    expect(loadConfig({}).graphql.suggestions).toBe(false);
    expect(loadConfig({ NODE_ENV: 'development' }).graphql.suggestions).toBe(true);
    expect(loadConfig({ NODE_ENV: 'development', GRAPHQL_SUGGESTIONS: 'false' }).graphql.suggestions).toBe(false);
  });
  it('reads each limit and refuses nonsense', () => {
    expect(loadConfig({ GRAPHQL_MAX_COST: '1234', GRAPHQL_MAX_DEPTH: '9' }).graphql.limits).toMatchObject({ cost: 1234, depth: 9 });
    expect(() => loadConfig({ GRAPHQL_MAX_DEPTH: '1000' })).toThrow(/GRAPHQL_MAX_DEPTH/);
    expect(() => loadConfig({ GRAPHQL_INTROSPECTION: 'yes' })).toThrow(/GRAPHQL_INTROSPECTION/);
  });
});

interface Answer {
  status: number;
  body: { data?: any; errors?: { message: string; extensions?: Record<string, unknown> }[] };
}

/** Over HTTP and graphql-ws against the served app, counting the app's own SQL statements. */
describe.each([
  ['defaults (served: introspection and suggestions off)', {}],
  ['introspection and suggestions on', { GRAPHQL_INTROSPECTION: 'true', GRAPHQL_SUGGESTIONS: 'true' }],
] as const)('query limits over HTTP and websockets, %s', (_name, env) => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  let token: string;
  let chestId: string;
  const sql: string[] = [];
  const closed = !('GRAPHQL_INTROSPECTION' in env);

  beforeAll(async () => {
    server = await startTestServer(env);
    server.database.orm.config.set('onQuery', (q: string) => {
      sql.push(q);
      return q;
    });
    api = apiClient(server.app.url());
    token = await api.signUp(`limits-${Math.random().toString(36).slice(2)}@example.com`);
    chestId = await api.createChest(token);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
  });

  async function post(body: unknown, auth = token): Promise<Answer> {
    const res = await fetch(`${server.app.url()}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${auth}` },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Answer['body'] };
  }

  /** One operation over a signed-in socket: what it answered or the errors it ended with. */
  function overSocket(client: Client, query: string, variables?: Record<string, unknown>): Promise<{ data?: unknown; errors?: any[] }> {
    return new Promise((resolve) => {
      let data: unknown;
      client.subscribe(
        { query, variables },
        { next: (r) => void (data = r.data ?? r), error: (errors) => resolve({ errors: errors as any[] }), complete: () => resolve({ data }) },
      );
    });
  }

  /** Runs `fn` and says how many SQL statements and full validations happened meanwhile. */
  async function counted<T>(fn: () => Promise<T>): Promise<{ result: T; statements: number; validations: number }> {
    sql.length = 0;
    const validated = queryLimitStats.validated;
    const result = await fn();
    return { result, statements: sql.length, validations: queryLimitStats.validated - validated };
  }

  it('a legitimate query is validated and reads the database (the counters work)', async () => {
    const { result, statements, validations } = await counted(() => post({ query: README_CHEST, variables: { id: chestId } }));
    expect(result.body.errors).toBeUndefined();
    expect(result.body.data.chest.myRole).toBe('OWNER');
    expect(statements).toBeGreaterThan(0);
    expect(validations).toBe(1);
  });

  it.each(OVER)('HTTP: over the %s limit is a 400 QUERY_TOO_COMPLEX, with no SQL and no validation', async (limit, query) => {
    const { result, statements, validations } = await counted(() => post({ query }));
    expect(result.status).toBe(400);
    expect(result.body.errors?.map((e) => e.extensions)).toEqual([{ code: 'QUERY_TOO_COMPLEX', limit, max: QUERY_LIMIT_DEFAULTS[limit] }]);
    expect({ statements, validations }).toEqual({ statements: 0, validations: 0 });
  });

  it.each(Object.entries(HOSTILE))('HTTP: the issue’s %s is refused with no SQL and no validation', async (_name, query) => {
    const { result, statements, validations } = await counted(() => post({ query }));
    expect([result.status, result.body.errors?.[0]?.extensions?.code]).toEqual([400, 'QUERY_TOO_COMPLEX']);
    expect({ statements, validations }).toEqual({ statements: 0, validations: 0 });
  });

  it('HTTP: a GET query passes the same limits', async () => {
    const url = `${server.app.url()}/graphql?query=${encodeURIComponent(OVER.find(([l]) => l === 'aliases')![1])}`;
    const res = await fetch(url, { headers: { 'apollo-require-preflight': 'true' } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Answer['body']).errors?.[0]?.extensions?.limit).toBe('aliases');
  });

  it('HTTP: `first` from variables counts', async () => {
    const over = await post({ query: manyChests('$n'), variables: { n: 100 } });
    expect(over.body.errors?.[0]?.extensions).toMatchObject({ code: 'QUERY_TOO_COMPLEX', limit: 'cost' });
    const under = await post({ query: manyChests('$n'), variables: { n: 10 } });
    expect(under.body.errors).toBeUndefined();
    expect(under.body.data.chests.edges).toHaveLength(1);
  });

  it('HTTP: a batched (array) body is a 400 BAD_REQUEST before any SQL', async () => {
    const { result, statements, validations } = await counted(() => post([{ query: '{ __typename }' }, { query: '{ __typename }' }]));
    expect(result.status).toBe(400);
    expect(result.body.errors?.map((e) => e.extensions?.code)).toEqual(['BAD_REQUEST']);
    expect({ statements, validations }).toEqual({ statements: 0, validations: 0 });
  });

  it('HTTP: the nested chest query with assets(first: 100) passes', async () => {
    const r = await post({ query: `query($id: ID!) { chest(id: $id) { ${NESTED_CHEST} } }`, variables: { id: chestId } });
    expect(r.body.errors).toBeUndefined();
    expect(r.body.data.chest.assets.totalCount).toBe(0);
  });

  it(`HTTP: introspection is ${closed ? 'refused' : 'answered'} and suggestions are ${closed ? 'hidden' : 'shown'}`, async () => {
    const intro = await post({ query: getIntrospectionQuery() });
    if (closed) expect(intro.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    else expect(intro.body.data.__schema.queryType.name).toBe('Query');
    const typo = await post({ query: '{ chets { totalCount } }' });
    expect(typo.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
    expect(typo.body.errors?.[0]?.message.includes('Did you mean')).toBe(!closed);
  });

  describe('over graphql-ws', () => {
    let client: Client;
    beforeAll(async () => {
      client = api.ws(token);
      // The socket is open and signed in (onConnect's session lookup is behind us).
      await api.settled(client);
    });
    afterAll(async () => {
      await client?.dispose();
    });

    it('a legitimate operation still runs', async () => {
      const { result, validations } = await counted(() => overSocket(client, README_CHEST, { id: chestId }));
      expect((result.data as any)?.chest?.myRole).toBe('OWNER');
      expect(validations).toBe(1);
    });

    it.each(OVER)('over the %s limit is QUERY_TOO_COMPLEX, with no SQL and no validation', async (limit, query) => {
      const { result, statements, validations } = await counted(() => overSocket(client, query));
      expect(result.errors?.map((e) => e.extensions)).toEqual([{ code: 'QUERY_TOO_COMPLEX', limit, max: QUERY_LIMIT_DEFAULTS[limit] }]);
      expect({ statements, validations }).toEqual({ statements: 0, validations: 0 });
    });

    it.each(Object.entries(HOSTILE))('the issue’s %s is refused with no SQL and no validation', async (_name, query) => {
      const { result, statements, validations } = await counted(() => overSocket(client, query));
      expect(result.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
      expect({ statements, validations }).toEqual({ statements: 0, validations: 0 });
    });

    it(`introspection is ${closed ? 'refused' : 'answered'} and suggestions are ${closed ? 'hidden' : 'shown'}`, async () => {
      const intro = await overSocket(client, '{ __schema { queryType { name } } }');
      if (closed) expect(intro.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      else expect(intro.data).toEqual({ __schema: { queryType: { name: 'Query' } } });
      const typo = await overSocket(client, 'subscription { memoryAdde(chestId: "x") { id } }');
      expect(typo.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(typo.errors?.[0]?.message.includes('Did you mean')).toBe(!closed);
    });
  });
});
