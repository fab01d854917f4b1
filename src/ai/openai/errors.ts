import { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import { AiProviderError } from '../ai.port.js';

// ---------------------------------------------------------------------------------------------
// Errors

/** Runs one request; the caller's abort wins over everything, SDK errors become AiProviderErrors. */
export async function guarded<T>(model: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    signal?.throwIfAborted();
    throw toProviderError(error, model);
  }
}

/**
 * The one place SDK errors are translated. Messages are for people: never the key, never the
 * server's body (which may echo the key or the prompt). Non-SDK errors (a missing local file)
 * pass through unchanged.
 */
export function toProviderError(error: unknown, model: string): unknown {
  if (error instanceof AiProviderError) return error;
  // Subclass of APIConnectionError, so first. The SDK throws it for its own timer, for undici's
  // header timeout and for connect timeouts, after its retries.
  if (error instanceof APIConnectionTimeoutError) return new AiProviderError('The AI service did not answer in time', true);
  if (error instanceof APIConnectionError) return new AiProviderError('Could not reach the AI service', true);
  if (error instanceof APIError) {
    const status = error.status;
    // No status: an error event inside an otherwise good stream.
    if (status === undefined) return new AiProviderError('The AI service reported an error while answering', true);
    if (status === 401 || status === 403) return new AiProviderError('The AI service refused the API key', false);
    if (status === 429) return new AiProviderError('The AI service is rate limiting requests (HTTP 429)', true);
    if (status === 408 || status === 409 || status >= 500) return new AiProviderError(`The AI service had a temporary problem (HTTP ${status})`, true);
    if (status === 404) return new AiProviderError(`The AI service has no model "${model}" or no such endpoint (HTTP 404)`, false);
    return new AiProviderError(`The AI service rejected the request (HTTP ${status})`, false);
  }
  // The SDK's SSE decoder throws this for a garbled event; usually a proxy cutting the stream.
  if (error instanceof SyntaxError) return new AiProviderError('The AI service sent a response that could not be read', true);
  return error;
}

