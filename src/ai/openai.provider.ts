import { readFile } from 'node:fs/promises';
import OpenAI, { toFile } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { AiProviderError } from './ai.port.js';
import type {
  AiFile,
  AiProvider,
  ImageDescription,
  ImageHints,
  ImageTag,
  StoryContext,
  StoryDraft,
  StoryOptions,
  StoryStreamOptions,
  Transcript,
} from './ai.port.js';
import { guarded } from './openai/errors.js';
import { languageCode, uploadName } from './openai/language.js';
import { generateStory } from './openai/story.js';
import { IMAGE_SCHEMA, ImageOutput, jsonSchemaFormat, parseJson, TranscriptionOutput } from './openai/output.js';

// Parts the tests and other modules use, from the one module that names the provider.
export { toProviderError } from './openai/errors.js';
export { languageCode } from './openai/language.js';
export { DEFAULT_STORY_TOKEN_BUDGET, storyContextJson } from './openai/story.js';

/**
 * The AiProvider for any OpenAI-compatible server (OpenAI, Ollama's /v1, LocalAI, vLLM).
 * Retries of 408/409/429/5xx, connection failures and timeouts are left to the SDK (exponential
 * backoff, honouring retry-after / retry-after-ms); what still fails becomes an AiProviderError.
 * OCR is not offered here: it runs locally.
 */
export interface OpenAiSettings {
  baseURL: string;
  /** Null for servers that take no key (Ollama, LocalAI). */
  apiKey: string | null;
  models: { transcribe: string; vision: string; story: string };
  /** Per attempt: until the response headers (and the whole body, except for streams); for streams, the longest silence. */
  timeoutMs: number;
  maxRetries: number;
  /**
   * Most tokens one story request may take, prompt and answer together (AI_STORY_TOKEN_BUDGET).
   * Default DEFAULT_STORY_TOKEN_BUDGET. A chest that does not fit is written in stages (openai/story-stages.ts).
   */
  storyTokenBudget?: number;
}

import { PROVIDER } from './openai/provider-name.js';
/** The caller sends a ≤1024 px thumbnail; anything far bigger is a mistake, not a photo to upload. */
const MAX_IMAGE_BYTES = 8 * 1024 * 1024;

export function createOpenAiProvider(settings: OpenAiSettings): AiProvider {
  const client = new OpenAI({
    baseURL: settings.baseURL,
    apiKey: settings.apiKey ?? 'not-needed',
    // Explicit, so OPENAI_ORG_ID / OPENAI_PROJECT_ID in the environment add no headers.
    organization: null,
    project: null,
    timeout: settings.timeoutMs,
    maxRetries: settings.maxRetries,
  });
  const { models } = settings;

  return {
    name: PROVIDER,

    transcribe: (audio: AiFile): Promise<Transcript> =>
      guarded(models.transcribe, audio.signal, async () => {
        // A buffered upload, not a file stream: the SDK cannot retry a request whose body was streamed.
        const bytes = await readFile(audio.path, { signal: audio.signal });
        const file = await toFile(bytes, uploadName(audio), { type: audio.mimeType });
        const response: unknown = await client.audio.transcriptions.create(
          { file, model: models.transcribe, response_format: 'verbose_json', timestamp_granularities: ['segment'] },
          { signal: audio.signal },
        );
        const parsed = TranscriptionOutput.safeParse(response);
        if (!parsed.success) throw new AiProviderError('The transcription model returned malformed output', false);
        const { text, language, segments, model } = parsed.data;
        return {
          provider: PROVIDER,
          model: model ?? models.transcribe,
          text: text.trim(),
          language: languageCode(language),
          segments: (segments ?? [])
            .map((s) => ({ start: s.start, end: s.end, text: s.text.trim() }))
            .filter((s) => s.text.length > 0),
          rough: false,
          confidence: null,
        };
      }),

    describeImage: (image: AiFile, hints: ImageHints): Promise<ImageDescription> =>
      guarded(models.vision, image.signal, async () => {
        const bytes = await readFile(image.path, { signal: image.signal });
        if (bytes.length > MAX_IMAGE_BYTES) throw new AiProviderError('The image is too large to send to the vision model', false);
        const completion = await client.chat.completions.create(
          {
            model: models.vision,
            messages: imageMessages(`data:${image.mimeType};base64,${bytes.toString('base64')}`, hints),
            response_format: jsonSchemaFormat('image_description', IMAGE_SCHEMA),
          },
          { signal: image.signal },
        );
        const message = completion.choices[0]?.message;
        if (message?.refusal) throw new AiProviderError('The vision model declined to describe the image', false);
        const parsed = parseJson(message?.content, ImageOutput);
        if (!parsed) throw new AiProviderError('The vision model returned malformed output', false);
        const caption = parsed.caption.trim();
        // Free text, so no composedFrom: the family's later decisions about people never rewrite it.
        return {
          provider: PROVIDER,
          model: completion.model || models.vision,
          caption: caption.length > 0 ? caption : null,
          tags: cleanTags(parsed.tags),
        };
      }),

    generateStory: (context: StoryContext, options: StoryOptions, stream?: StoryStreamOptions): Promise<StoryDraft> =>
      generateStory({ client, settings, context, options, stream }),
  };
}


// ---------------------------------------------------------------------------------------------
// Images

const IMAGE_PROMPT = [
  'You describe photos for a family archive of memories.',
  'Describe only what is visible: people (by apparent age and role, e.g. "an older woman"), activities, objects, setting, season, light, whether it is black and white.',
  'Never guess who anyone is, nor names, dates or places that are not visibly written in the image.',
  'caption: one plain sentence.',
  'tags: 3 to 12 short lower-case tags of one to three words, each with your confidence from 0 to 1.',
  'Answer with JSON only.',
].join('\n');

function imageMessages(dataUrl: string, hints: ImageHints): ChatCompletionMessageParam[] {
  // The date is fact from the camera; it helps with era and season without inviting guesses.
  const date = hints.dateTaken ? ` The camera dated it ${hints.dateTaken.toISOString().slice(0, 10)}.` : '';
  return [
    { role: 'system', content: IMAGE_PROMPT },
    {
      role: 'user',
      content: [
        { type: 'text', text: `Describe this photo.${date}` },
        { type: 'image_url', image_url: { url: dataUrl } },
      ],
    },
  ];
}

/** Lower case, single spaces, confidence in 0..1, one entry per name (the most confident), best first. */
function cleanTags(tags: ImageTag[]): ImageTag[] {
  const best = new Map<string, number>();
  for (const tag of tags) {
    const name = tag.name.trim().replace(/\s+/g, ' ').toLowerCase();
    if (!name) continue;
    const confidence = Math.min(1, Math.max(0, tag.confidence));
    best.set(name, Math.max(confidence, best.get(name) ?? 0));
  }
  return [...best]
    .map(([name, confidence]) => ({ name, confidence }))
    .sort((a, b) => b.confidence - a.confidence)
    .slice(0, 12);
}

