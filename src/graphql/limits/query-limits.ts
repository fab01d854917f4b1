import { GraphQLError } from 'graphql';
import { ErrorCode } from '../../domain/errors.js';

/** What a GraphQL document may weigh; checked before full validation on HTTP and websockets. */
export interface QueryLimits {
  /** Characters in the document text. */
  length: number;
  /** Lexical tokens (names, punctuation, values; comments are free). */
  tokens: number;
  /** Nested fields in an operation (fragments are followed: a spread adds its fragment's depth). */
  depth: number;
  /** Aliased fields, fragments expanded where they are spread. */
  aliases: number;
  /** Directives, fragments expanded. */
  directives: number;
  /** Fields with the same response name at the same place (after merging fragments); what makes validation quadratic. */
  repeatedFields: number;
  /** Every field, fragment spread and inline fragment counts 1; what is under a connection counts `first` times. */
  cost: number;
}

export type QueryLimit = keyof QueryLimits;

/** GraphQL settings of the API (see docs/api.md "Query limits"). */
export interface GraphQLSettings {
  limits: QueryLimits;
  /** Whether `__schema` / `__type` are answered (the offline explorer needs them). */
  introspection: boolean;
  /** Whether validation errors may say "Did you mean …" (they name fields a caller may not know of). */
  suggestions: boolean;
}

/**
 * Defaults that every query in the README and the tests passes with room to spare: the nested
 * chest query with `assets(first: 100)` costs about 1,550; the standard introspection query
 * (what the explorer sends) is 15 deep and costs about 30,000 on this schema.
 */
export const QUERY_LIMIT_DEFAULTS: QueryLimits = {
  length: 50_000,
  tokens: 2_000,
  depth: 15,
  aliases: 20,
  directives: 50,
  repeatedFields: 10,
  cost: 50_000,
};

/** The served mode's defaults: introspection and suggestions off. */
export const GRAPHQL_DEFAULTS: GraphQLSettings = { limits: QUERY_LIMIT_DEFAULTS, introspection: false, suggestions: false };

const WHAT: Record<QueryLimit, string> = {
  length: 'characters',
  tokens: 'tokens',
  depth: 'levels of nesting',
  aliases: 'aliases',
  directives: 'directives',
  repeatedFields: 'fields with one response name in one place',
  cost: 'in cost',
};

/** The one error a document over a limit gets: QUERY_TOO_COMPLEX, naming the limit and its value. */
export function tooComplex(limit: QueryLimit, max: number): GraphQLError {
  return new GraphQLError(`Query too complex: over the "${limit}" limit of ${max} ${WHAT[limit]}`, {
    extensions: { code: ErrorCode.QUERY_TOO_COMPLEX, limit, max },
  });
}
