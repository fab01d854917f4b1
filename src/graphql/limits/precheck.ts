import { type DocumentNode, GraphQLError, type GraphQLSchema, parse } from 'graphql';
import { measureDocument } from './measure.js';
import { type QueryLimits, tooComplex } from './query-limits.js';
import { mostRepeatedField } from './repeated.js';
import { queryLimitStats } from './stats.js';
import { scanDocument } from './scan.js';

export interface PrecheckInput {
  schema: GraphQLSchema;
  limits: QueryLimits;
  maxPageSize: number;
  /** The document text as the client sent it. */
  query: string;
  variables?: Record<string, unknown> | null;
}

export type Precheck = { ok: true; document: DocumentNode } | { ok: false; error: GraphQLError };

/**
 * Everything a document must pass before full validation, in order of cost: length, tokens and
 * nesting in one lexer pass; parsing; then depth, aliases, directives and cost in one memoised
 * walk; then repeated fields, whose walk the cost limit bounds. Every step is linear in the text,
 * so a refusal costs about as much as reading it. graphql-js's `validate` runs all its rules in
 * one visitor (OverlappingFieldsCanBeMerged among them, quadratic in repeated fields), which is
 * why this runs first rather than as one more validation rule. A syntax error comes back coded
 * GRAPHQL_PARSE_FAILED, a self-spreading fragment GRAPHQL_VALIDATION_FAILED, and a limit
 * QUERY_TOO_COMPLEX.
 */
export function precheck({ schema, limits, maxPageSize, query, variables }: PrecheckInput): Precheck {
  const result = run();
  if (result.ok) queryLimitStats.passed++;
  else queryLimitStats.refused++;
  return result;

  function run(): Precheck {
    let document: DocumentNode;
    try {
      const scanned = scanDocument(query, limits);
      if (scanned) return { ok: false, error: scanned };
      document = parse(query, { noLocation: false, maxTokens: limits.tokens });
    } catch (err) {
      if (err instanceof GraphQLError) return { ok: false, error: coded(err, 'GRAPHQL_PARSE_FAILED') };
      // A stack overflow despite the nesting check (a very long fragment chain): still refused.
      if (err instanceof RangeError) return { ok: false, error: tooComplex('depth', limits.depth) };
      throw err;
    }
    let weight;
    try {
      weight = measureDocument({ schema, document, variables: variables ?? {}, maxPageSize });
    } catch (err) {
      if (err instanceof GraphQLError) return { ok: false, error: err };
      if (err instanceof RangeError) return { ok: false, error: tooComplex('depth', limits.depth) };
      throw err;
    }
    if (weight.depth > limits.depth) return { ok: false, error: tooComplex('depth', limits.depth) };
    if (weight.aliases > limits.aliases) return { ok: false, error: tooComplex('aliases', limits.aliases) };
    if (weight.directives > limits.directives) return { ok: false, error: tooComplex('directives', limits.directives) };
    if (weight.cost > limits.cost) return { ok: false, error: tooComplex('cost', limits.cost) };
    if (mostRepeatedField(document, limits.repeatedFields) > limits.repeatedFields) return { ok: false, error: tooComplex('repeatedFields', limits.repeatedFields) };
    return { ok: true, document };
  }
}

function coded(err: GraphQLError, code: string): GraphQLError {
  return new GraphQLError(err.message, { nodes: err.nodes, source: err.source, positions: err.positions, extensions: { code } });
}
