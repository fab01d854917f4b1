import { GraphQLError } from 'graphql';

/** The same pattern Apollo's hideSchemaDetailsFromClientErrors removes over HTTP. */
const SUGGESTION = / ?Did you mean(.+?)\?$/;

/** Validation errors without "Did you mean …", which would list fields to a caller probing the schema. */
export function withoutSuggestions(errors: readonly GraphQLError[]): GraphQLError[] {
  return errors.map((e) =>
    SUGGESTION.test(e.message) ? new GraphQLError(e.message.replace(SUGGESTION, ''), { nodes: e.nodes, source: e.source, positions: e.positions, path: e.path, originalError: e.originalError, extensions: e.extensions }) : e,
  );
}
