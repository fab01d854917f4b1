import 'reflect-metadata';
import type { GraphQLSchema } from 'graphql';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { socketOnSubscribe } from '../../src/graphql/limits/socket.js';
import { queryLimitStats } from '../../src/graphql/limits/stats.js';
import { createSchema } from '../../src/graphql/schema.js';

const SUBSCRIPTION = 'subscription($c: ID!) { assetProcessing(chestId: $c) { seq stage percent } }';

/** Ten thousand visitors subscribing with one document share one parsed, validated tree. */
describe('websocket documents that passed the limits', () => {
  let schema: GraphQLSchema;
  let onSubscribe: ReturnType<typeof socketOnSubscribe>;

  beforeAll(async () => {
    schema = await createSchema();
    const config = loadConfig({});
    onSubscribe = socketOnSubscribe({ schema, settings: config.graphql, maxPageSize: config.maxPageSize ?? 100 });
  });

  it('validates a document once per text and variables, and hands each subscriber its own arguments', () => {
    const before = queryLimitStats.validated;
    const a = onSubscribe({ query: SUBSCRIPTION, variables: { c: 'chest-1' } });
    const b = onSubscribe({ query: SUBSCRIPTION, variables: { c: 'chest-1' } });
    expect(queryLimitStats.validated - before).toBe(1);
    expect(Array.isArray(a) || Array.isArray(b)).toBe(false);
    if (Array.isArray(a) || Array.isArray(b)) return;
    expect(b.document).toBe(a.document);
    expect(b).not.toBe(a); // graphql-ws writes each socket's context into its own arguments
    // Other variables are another entry: the precheck's cost depends on them.
    onSubscribe({ query: SUBSCRIPTION, variables: { c: 'chest-2' } });
    expect(queryLimitStats.validated - before).toBe(2);
  });

  it('never keeps what was refused: it is checked and refused again every time', () => {
    const invalid = 'subscription { assetProcessing(chestId: "x") { noSuchField } }';
    const before = queryLimitStats.validated;
    const first = onSubscribe({ query: invalid });
    const second = onSubscribe({ query: invalid });
    expect(Array.isArray(first) && Array.isArray(second)).toBe(true);
    expect(queryLimitStats.validated - before).toBe(2);
  });
});
