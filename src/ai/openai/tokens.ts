/**
 * Token counts without the model's tokenizer (which a compatible server does not expose):
 * deliberately high, so a request estimated within the budget is within it. English runs at about
 * 4 characters a token; JSON punctuation, ids and digits at fewer, hence 3.5. A character outside
 * ASCII (accents, CJK, emoji) is counted as two tokens, more than any tokenizer spends on most.
 */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (const c of text) {
    if (c.charCodeAt(0) < 128) ascii += 1;
    else other += 1;
  }
  return Math.ceil(ascii / 3.5 + other * 2);
}

/**
 * What one chat request costs against the budget: its whole body as sent (messages, the answer's
 * JSON schema, every field) plus the room it leaves the answer (max_tokens).
 */
export function requestTokens(body: { max_tokens?: number | null }): number {
  return estimateTokens(JSON.stringify(body)) + (body.max_tokens ?? 0);
}
