import { z } from 'zod';

// Output schemas: a JSON schema for the server (strict mode: every property required, no extras)
// and a zod schema to check what came back, since not every compatible server enforces the former.

export type JsonSchema = Record<string, unknown>;

export const object = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  required: Object.keys(properties),
  properties,
});
export const array = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
export const string: JsonSchema = { type: 'string' };
export const nullableString: JsonSchema = { type: ['string', 'null'] };
export const ids: JsonSchema = { type: 'array', items: string, description: 'Ids of the memories this draws on.' };

export const jsonSchemaFormat = (name: string, schema: JsonSchema) =>
  ({ type: 'json_schema', json_schema: { name, schema, strict: true } }) as const;

export const IMAGE_SCHEMA = object({
  caption: string,
  tags: array(object({ name: string, confidence: { type: 'number' } })),
});

export const STORY_SCHEMA = object({
  // Title and paragraphs first: models write properties in schema order, so the narrative streams early.
  title: string,
  paragraphs: array(object({ text: string, assetIds: ids })),
  timeline: array(
    object({ date: { type: 'string', description: 'YYYY, YYYY-MM or YYYY-MM-DD' }, title: string, description: nullableString, assetIds: ids }),
  ),
  themes: array(object({ name: string, description: nullableString, assetIds: ids })),
});

/** A period's notes for the writer of the book (openai/story-stages.ts): each a claim citing the memories it comes from. */
export const SUMMARY_SCHEMA = object({
  notes: array(object({ text: string, assetIds: ids })),
});

export const TranscriptionOutput = z.object({
  text: z.string(),
  language: z.string().nullish(),
  segments: z.array(z.object({ start: z.number(), end: z.number(), text: z.string() })).nullish(),
  model: z.string().optional(),
});

export const ImageOutput = z.object({
  caption: z.string(),
  tags: z.array(z.object({ name: z.string(), confidence: z.number() })),
});

export const Ids = z.array(z.string());
export const StoryOutput = z.object({
  title: z.string(),
  paragraphs: z.array(z.object({ text: z.string(), assetIds: Ids })),
  // Lenient where a server without strict mode may cut corners that carry no content.
  timeline: z.array(z.object({ date: z.string(), title: z.string(), description: z.string().nullish(), assetIds: Ids })).default([]),
  themes: z.array(z.object({ name: z.string(), description: z.string().nullish(), assetIds: Ids })).default([]),
});

/** Parses model output, tolerating a ```json fence around it; null when it is not the schema. */
export function parseJson<T>(content: string | null | undefined, schema: z.ZodType<T>): T | null {
  if (!content) return null;
  const unfenced = content.trim().replace(/^```(?:json)?\s*([\s\S]*?)\s*```$/, '$1');
  let value: unknown;
  try {
    value = JSON.parse(unfenced);
  } catch {
    return null;
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : null;
}

export const SummaryOutput = z.object({
  notes: z.array(z.object({ text: z.string(), assetIds: Ids })),
});
