import { readFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, toFile } from 'openai';
import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { z } from 'zod';
import { StoryStyle } from '../db/enums.js';
import { AiProviderError } from './ai.port.js';
import type {
  AiFile,
  AiProvider,
  ImageDescription,
  ImageHints,
  ImageTag,
  StoryContext,
  StoryDraft,
  StoryMemory,
  StoryOptions,
  StoryStreamOptions,
  Transcript,
} from './ai.port.js';
import { PartialJsonStrings } from './partial-json.js';

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
}

const PROVIDER = 'openai';
/** The caller sends a ≤1024 px thumbnail; anything far bigger is a mistake, not a photo to upload. */
const MAX_IMAGE_BYTES = 8 * 1024 * 1024;
/** The story prompt's data (person + memories as JSON) stays under this many characters. */
export const STORY_CONTEXT_BUDGET = 60_000;
/** No single transcript or text excerpt is longer than this, whatever the budget. */
const MAX_EXCERPT = 8_000;
/** An excerpt cut shorter than this says too little to keep. */
const MIN_EXCERPT = 200;

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
        return {
          provider: PROVIDER,
          model: completion.model || models.vision,
          caption: caption.length > 0 ? caption : null,
          tags: cleanTags(parsed.tags),
        };
      }),

    generateStory: (context: StoryContext, options: StoryOptions, stream?: StoryStreamOptions): Promise<StoryDraft> =>
      generateStory(client, settings, context, options, stream),
  };
}

// ---------------------------------------------------------------------------------------------
// Errors

/** Runs one request; the caller's abort wins over everything, SDK errors become AiProviderErrors. */
async function guarded<T>(model: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
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

// ---------------------------------------------------------------------------------------------
// Output schemas: a JSON schema for the server (strict mode: every property required, no extras)
// and a zod schema to check what came back, since not every compatible server enforces the former.

type JsonSchema = Record<string, unknown>;

const object = (properties: Record<string, JsonSchema>): JsonSchema => ({
  type: 'object',
  additionalProperties: false,
  required: Object.keys(properties),
  properties,
});
const array = (items: JsonSchema): JsonSchema => ({ type: 'array', items });
const string: JsonSchema = { type: 'string' };
const nullableString: JsonSchema = { type: ['string', 'null'] };
const ids: JsonSchema = { type: 'array', items: string, description: 'Ids of the memories this draws on.' };

const jsonSchemaFormat = (name: string, schema: JsonSchema) =>
  ({ type: 'json_schema', json_schema: { name, schema, strict: true } }) as const;

const IMAGE_SCHEMA = object({
  caption: string,
  tags: array(object({ name: string, confidence: { type: 'number' } })),
});

const STORY_SCHEMA = object({
  // Title and paragraphs first: models write properties in schema order, so the narrative streams early.
  title: string,
  paragraphs: array(object({ text: string, assetIds: ids })),
  timeline: array(
    object({ date: { type: 'string', description: 'YYYY, YYYY-MM or YYYY-MM-DD' }, title: string, description: nullableString, assetIds: ids }),
  ),
  themes: array(object({ name: string, description: nullableString, assetIds: ids })),
});

const TranscriptionOutput = z.object({
  text: z.string(),
  language: z.string().nullish(),
  segments: z.array(z.object({ start: z.number(), end: z.number(), text: z.string() })).nullish(),
  model: z.string().optional(),
});

const ImageOutput = z.object({
  caption: z.string(),
  tags: z.array(z.object({ name: z.string(), confidence: z.number() })),
});

const Ids = z.array(z.string());
const StoryOutput = z.object({
  title: z.string(),
  paragraphs: z.array(z.object({ text: z.string(), assetIds: Ids })),
  // Lenient where a server without strict mode may cut corners that carry no content.
  timeline: z.array(z.object({ date: z.string(), title: z.string(), description: z.string().nullish(), assetIds: Ids })).default([]),
  themes: z.array(z.object({ name: z.string(), description: z.string().nullish(), assetIds: Ids })).default([]),
});

/** Parses model output, tolerating a ```json fence around it; null when it is not the schema. */
function parseJson<T>(content: string | null | undefined, schema: z.ZodType<T>): T | null {
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

// ---------------------------------------------------------------------------------------------
// Stories

const STYLES: Record<StoryStyle, string> = {
  [StoryStyle.COMPREHENSIVE]: 'Comprehensive: a thorough life story in several paragraphs, covering every period and side of the person the memories show.',
  [StoryStyle.BRIEF]: 'Brief: 2 to 3 paragraphs with the essentials.',
  [StoryStyle.FOR_CHILDREN]: 'For children: simple, warm, short sentences a young child can follow; gentle about death.',
  [StoryStyle.EULOGY]: 'Eulogy: to be read aloud at a memorial service; warm, dignified and easy to speak, addressed to the people gathered.',
};

function storySystemPrompt(options: StoryOptions): string {
  return [
    "You write the story of a person's life for their family, from the memories the family collected: photos, videos, recordings and documents, given as JSON.",
    'Rules:',
    '- Use only facts found in the person and the memories. Never invent names, dates, places, events, feelings or quotes. If the memories say little, write little.',
    '- Every paragraph, timeline entry and theme cites in assetIds the ids of the memories it draws on, and only ids given in the memories.',
    '- Paragraph text is plain prose: no markdown, no headings, no ids.',
    '- Write in the language most of the memories are in.',
    `- Style. ${STYLES[options.style]}`,
    options.includeTimeline
      ? '- timeline: the dated events the memories show, oldest first; date as YYYY, YYYY-MM or YYYY-MM-DD, only as precise as the memories are.'
      : '- timeline: return an empty array.',
    options.includeThemes
      ? '- themes: the threads that run through the life (a place, a passion, a bond), each with a short description.'
      : '- themes: return an empty array.',
    'Answer with JSON only.',
  ].join('\n');
}

/** The person and memories as compact JSON, transcripts and texts cut so the whole fits the budget. */
export function storyContextJson(context: StoryContext, budget: number = STORY_CONTEXT_BUDGET): string {
  const { person } = context;
  const head = { name: person.name, born: person.birthDate ?? undefined, died: person.passingDate ?? undefined, about: person.description ?? undefined };
  const render = (cap: number): string =>
    JSON.stringify({ person: head, memories: context.memories.map((m) => memoryJson(m, cap)) });

  const full = render(MAX_EXCERPT);
  if (full.length <= budget) return full;
  // Water-fill: the longest excerpts are cut first, to a common cap; shorter ones stay whole.
  const lengths = context.memories
    .flatMap((m) => [m.transcript, m.text])
    .filter((t): t is string => t !== null)
    .map((t) => Math.min(squash(t).length, MAX_EXCERPT));
  let cap = waterLevel(lengths, budget - render(0).length);
  let json = render(cap);
  // Escapes and ellipses make the estimate a little short; tighten until it fits (or nothing is left to cut).
  while (json.length > budget && cap >= MIN_EXCERPT) {
    cap = Math.floor(cap * 0.9);
    json = render(cap);
  }
  return json;
}

/** The largest cap such that the capped lengths sum to at most `room`. */
function waterLevel(lengths: number[], room: number): number {
  const sorted = [...lengths].sort((a, b) => a - b);
  let left = Math.max(0, room);
  for (let i = 0; i < sorted.length; i++) {
    const share = left / (sorted.length - i);
    const length = sorted[i] ?? 0;
    if (length > share) return Math.floor(share);
    left -= length;
  }
  return MAX_EXCERPT;
}

function memoryJson(m: StoryMemory, cap: number): Record<string, unknown> {
  const from = m.contributor ? (m.relationship ? `${m.contributor} (${m.relationship})` : m.contributor) : undefined;
  return {
    id: m.id,
    date: m.date ?? undefined,
    kind: m.kind,
    title: m.title,
    caption: m.caption ?? undefined,
    tags: m.tags.length > 0 ? m.tags : undefined,
    transcript: excerpt(m.transcript, cap),
    text: excerpt(m.text, cap),
    from,
  };
}

const squash = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** At most `cap` characters, cut at a word where possible; undefined when too little would be left. */
function excerpt(text: string | null, cap: number): string | undefined {
  if (text === null) return undefined;
  const flat = squash(text);
  if (flat.length <= cap) return flat || undefined;
  if (cap < MIN_EXCERPT) return undefined;
  const cut = flat.slice(0, cap - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > cap * 0.8 ? cut.slice(0, space) : cut}…`;
}

const narrativeOf = (texts: string[]): string =>
  texts
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .join('\n\n');

async function generateStory(
  client: OpenAI,
  settings: OpenAiSettings,
  context: StoryContext,
  options: StoryOptions,
  stream: StoryStreamOptions | undefined,
): Promise<StoryDraft> {
  const model = settings.models.story;
  const signal = stream?.signal;
  // The SDK's timeout ends when the headers arrive; a stream that goes quiet is caught here.
  const silence = new AbortController();
  const requestSignal = signal ? AbortSignal.any([signal, silence.signal]) : silence.signal;
  let timer: NodeJS.Timeout | undefined;
  const rearm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => silence.abort(), settings.timeoutMs);
  };
  const timedOut = (): AiProviderError => new AiProviderError('The AI service did not answer in time', true);

  try {
    const chunks = await client.chat.completions.create(
      {
        model,
        stream: true,
        messages: [
          { role: 'system', content: storySystemPrompt(options) },
          { role: 'user', content: `The person and the memories:\n${storyContextJson(context)}` },
        ],
        response_format: jsonSchemaFormat('life_story', STORY_SCHEMA),
      },
      { signal: requestSignal },
    );
    rearm();
    const texts = new PartialJsonStrings(['paragraphs', '*', 'text']);
    let content = '';
    let reportedModel = model;
    let finish: string | null = null;
    let shown = '';
    const show = (narrative: string): void => {
      if (narrative === shown) return;
      shown = narrative;
      stream?.onNarrative?.(narrative);
    };
    for await (const chunk of chunks) {
      rearm();
      if (chunk.model) reportedModel = chunk.model;
      const choice = chunk.choices[0];
      const delta = choice?.delta?.content;
      if (delta) {
        content += delta;
        texts.push(delta);
        show(narrativeOf(texts.values()));
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    // An aborted stream ends the loop quietly in the SDK instead of throwing.
    signal?.throwIfAborted();
    if (silence.signal.aborted) throw timedOut();

    const parsed = parseJson(content, StoryOutput);
    if (!parsed) {
      if (finish === null) throw new AiProviderError('The AI service stopped before the story was finished', true);
      if (finish === 'length') throw new AiProviderError('The story was longer than the model can write in one answer', false);
      throw new AiProviderError('The story model returned malformed output', false);
    }
    const draft = cleanStory(parsed, context, options, reportedModel);
    show(narrativeOf(draft.paragraphs.map((p) => p.text)));
    return draft;
  } catch (error) {
    signal?.throwIfAborted();
    if (silence.signal.aborted) throw timedOut();
    throw toProviderError(error, model);
  } finally {
    clearTimeout(timer);
  }
}

const STORY_DATE = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$/;

/** Trims, drops empty parts and entries with unusable dates, and keeps only citations of memories that exist. */
function cleanStory(raw: z.infer<typeof StoryOutput>, context: StoryContext, options: StoryOptions, model: string): StoryDraft {
  const known = new Set(context.memories.map((m) => m.id));
  const cite = (assetIds: string[]): string[] => [...new Set(assetIds)].filter((id) => known.has(id));
  const paragraphs = raw.paragraphs
    .map((p) => ({ text: p.text.trim(), assetIds: cite(p.assetIds) }))
    .filter((p) => p.text.length > 0);
  if (paragraphs.length === 0) throw new AiProviderError('The story model returned malformed output', false);
  const description = (d: string | null | undefined): string | null => d?.trim() || null;
  return {
    provider: PROVIDER,
    model,
    title: raw.title.trim() || context.person.name,
    paragraphs,
    timeline: options.includeTimeline
      ? raw.timeline
          .map((t) => ({ date: t.date.trim(), title: t.title.trim(), description: description(t.description), assetIds: cite(t.assetIds) }))
          .filter((t) => STORY_DATE.test(t.date) && t.title.length > 0)
      : [],
    themes: options.includeThemes
      ? raw.themes
          .map((t) => ({ name: t.name.trim(), description: description(t.description), assetIds: cite(t.assetIds) }))
          .filter((t) => t.name.length > 0)
      : [],
  };
}

// ---------------------------------------------------------------------------------------------
// Transcription helpers

const EXTENSIONS: Readonly<Record<string, string>> = {
  'audio/wav': '.wav',
  'audio/x-wav': '.wav',
  'audio/wave': '.wav',
  'audio/mpeg': '.mp3',
  'audio/mp4': '.m4a',
  'audio/ogg': '.ogg',
  'audio/webm': '.webm',
  'audio/flac': '.flac',
};

/** Servers pick the decoder from the file name, so it needs an extension. */
function uploadName(file: AiFile): string {
  const name = basename(file.path);
  return extname(name) ? name : `${name}${EXTENSIONS[file.mimeType] ?? '.wav'}`;
}

/** Whisper names outside the 2-letter set, or named differently by ICU. */
const LANGUAGE_ALIASES: Readonly<Record<string, string>> = {
  bengali: 'bn',
  burmese: 'my',
  myanmar: 'my',
  nynorsk: 'nn',
  tagalog: 'tl',
  hawaiian: 'haw',
  cantonese: 'yue',
  castilian: 'es',
  flemish: 'nl',
  valencian: 'ca',
  moldavian: 'ro',
  moldovan: 'ro',
  letzeburgesch: 'lb',
  pushto: 'ps',
  panjabi: 'pa',
  sinhalese: 'si',
  haitian: 'ht',
  mandarin: 'zh',
};

const foldName = (name: string): string => name.normalize('NFD').replace(/\p{M}/gu, '').trim().toLowerCase();

let languageNames: Map<string, string> | undefined;

/** English language name → ISO 639-1, from ICU (Node ships full ICU), built once. */
function languageByName(name: string): string | undefined {
  if (!languageNames) {
    languageNames = new Map();
    const display = new Intl.DisplayNames(['en'], { type: 'language', fallback: 'none' });
    for (let a = 97; a <= 122; a++) {
      for (let b = 97; b <= 122; b++) {
        const code = String.fromCharCode(a, b);
        const label = display.of(code);
        if (label && label !== code && !languageNames.has(foldName(label))) languageNames.set(foldName(label), code);
      }
    }
  }
  return LANGUAGE_ALIASES[name] ?? languageNames.get(name);
}

/** Codes stay codes ("en", "pt-BR", "yue"); Whisper's names ("english", "lao") become codes; unknown → null. */
export function languageCode(value: string | null | undefined): string | null {
  const trimmed = value?.trim();
  if (!trimmed) return null;
  const asCode = (): string => {
    const [primary = '', ...rest] = trimmed.split(/[-_]/);
    return [primary.toLowerCase(), ...rest].join('-');
  };
  if (/^[a-z]{2}([-_][a-z0-9]{2,8})*$/i.test(trimmed)) return asCode();
  // Names first: "lao" is a name as well as a three-letter code.
  const byName = languageByName(foldName(trimmed));
  if (byName) return byName;
  return /^[a-z]{3}([-_][a-z0-9]{2,8})*$/i.test(trimmed) ? asCode() : null;
}
