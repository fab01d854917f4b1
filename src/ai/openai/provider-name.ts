/** The name results carry and AI_PROVIDERS uses. */
export const PROVIDER = 'openai';
