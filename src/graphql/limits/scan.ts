import { type GraphQLError, Lexer, Source, TokenKind } from 'graphql';
import { type QueryLimits, tooComplex } from './query-limits.js';

const OPENERS = new Set<TokenKind>([TokenKind.BRACE_L, TokenKind.BRACKET_L, TokenKind.PAREN_L]);
const CLOSERS = new Set<TokenKind>([TokenKind.BRACE_R, TokenKind.BRACKET_R, TokenKind.PAREN_R]);

/**
 * How deep brackets may nest before parsing. graphql-js parses recursively and overflows the stack
 * near 2,000 levels, so the parser must never see a document nested much deeper than a legal one:
 * selections nest `depth` levels (inline fragments and arguments add a few more).
 */
export const nestingLimit = (limits: QueryLimits) => limits.depth * 2 + 16;

/**
 * One pass of graphql-js's own lexer, before the parser: the length, the token count and how deep
 * brackets nest, each stopping at its limit, so a hostile text costs at most a linear scan of
 * `limits.length` characters and never a deep recursion. A syntax error is the lexer's (the parser
 * would report the same one).
 */
export function scanDocument(text: string, limits: QueryLimits): GraphQLError | null {
  if (text.length > limits.length) return tooComplex('length', limits.length);
  const lexer = new Lexer(new Source(text));
  const maxNesting = nestingLimit(limits);
  let tokens = 0;
  let nesting = 0;
  for (let token = lexer.advance(); token.kind !== TokenKind.EOF; token = lexer.advance()) {
    if (++tokens > limits.tokens) return tooComplex('tokens', limits.tokens);
    if (OPENERS.has(token.kind)) {
      if (++nesting > maxNesting) return tooComplex('depth', limits.depth);
    } else if (CLOSERS.has(token.kind)) nesting--;
  }
  return null;
}
