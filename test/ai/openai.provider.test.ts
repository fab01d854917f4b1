import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AiProviderError, type AiProvider, type StoryContext, type StoryOptions } from '../../src/ai/ai.port.js';
import { createOpenAiProvider, languageCode, type OpenAiSettings } from '../../src/ai/openai.provider.js';
import { FileType, StoryStyle } from '../../src/db/enums.js';
import { type FakeOpenAi, type Multipart, startFakeOpenAi } from '../support/fake-openai.js';
import { jpeg, wav } from '../support/media.js';

const KEY = 'sk-test-secret-1234';

let fake: FakeOpenAi;
let dir: string;

beforeEach(async () => {
  fake = await startFakeOpenAi();
  dir = await mkdtemp(join(tmpdir(), 'dmc-openai-'));
});

afterEach(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function provider(overrides: Partial<OpenAiSettings> = {}): Required<Pick<AiProvider, 'transcribe' | 'describeImage' | 'generateStory'>> & AiProvider {
  const p = createOpenAiProvider({
    baseURL: fake.url,
    apiKey: KEY,
    models: { transcribe: 'whisper-1', vision: 'vision-model', story: 'story-model' },
    timeoutMs: 10_000,
    maxRetries: 2,
    ...overrides,
  });
  if (!p.transcribe || !p.describeImage || !p.generateStory) throw new Error('the OpenAI provider offers these three tasks');
  return p as Required<Pick<AiProvider, 'transcribe' | 'describeImage' | 'generateStory'>> & AiProvider;
}

async function audioFile(): Promise<{ path: string; bytes: Buffer }> {
  const bytes = wav(16_000);
  const path = join(dir, 'speech.wav');
  await writeFile(path, bytes);
  return { path, bytes };
}

async function imageFile(): Promise<{ path: string; bytes: Buffer }> {
  const bytes = await jpeg(64, 48);
  const path = join(dir, 'thumb.jpg');
  await writeFile(path, bytes);
  return { path, bytes };
}

const context: StoryContext = {
  person: { name: 'Rose Martin', birthDate: '1931-04-02', passingDate: '2020-11-30', description: 'Gardener and grandmother.' },
  memories: [
    { id: 'm1', kind: FileType.IMAGE, title: 'Garden 1962', date: '1962-06-01', caption: 'A woman among roses.', tags: ['garden', 'roses'], transcript: null, text: null, contributor: null, relationship: null },
    { id: 'm2', kind: FileType.AUDIO, title: 'Grandma speaks', date: null, caption: null, tags: [], transcript: 'We planted roses every spring.', text: null, contributor: 'Anna', relationship: 'granddaughter' },
    { id: 'm3', kind: FileType.DOCUMENT, title: 'Letter', date: '1975-01-01', caption: null, tags: [], transcript: null, text: 'Dear Rose, the sea was lovely.', contributor: null, relationship: null },
  ],
};
const everything: StoryOptions = { style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true };

type ChatBody = {
  model: string;
  stream?: boolean;
  messages: Array<{ role: string; content: string | Array<{ type: string; text?: string; image_url?: { url: string } }> }>;
  response_format: { type: string; json_schema: { name: string; strict: boolean; schema: Record<string, any> } };
};
const chatBody = (i = 0): ChatBody => fake.requests[i]?.body as ChatBody;
const systemPrompt = (i = 0): string => String(chatBody(i).messages.find((m) => m.role === 'system')?.content);
const userPrompt = (i = 0): string => String(chatBody(i).messages.find((m) => m.role === 'user')?.content);

/** The rejection of `promise`, which must reject. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a failure'),
    (error: unknown) => error,
  );
}

describe('transcribe', () => {
  it('uploads the file with verbose_json and segment timestamps, and reads segments and language', async () => {
    const { path, bytes } = await audioFile();
    const result = await provider().transcribe({ path, mimeType: 'audio/wav' });

    expect(fake.requests).toHaveLength(1);
    const request = fake.requests[0]!;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/audio/transcriptions');
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    const form = request.body as Multipart;
    expect(form.fields['model']).toEqual(['whisper-1']);
    expect(form.fields['response_format']).toEqual(['verbose_json']);
    expect(form.fields['timestamp_granularities[]']).toEqual(['segment']);
    expect(form.files['file']).toEqual({ filename: 'speech.wav', contentType: 'audio/wav', size: bytes.length });

    expect(result).toEqual({
      provider: 'openai',
      model: 'whisper-1',
      text: 'Hello from the garden. We planted roses.',
      language: 'en',
      segments: [
        { start: 0, end: 1.4, text: 'Hello from the garden.' },
        { start: 1.4, end: 3.1, text: 'We planted roses.' },
      ],
      rough: false,
      confidence: null,
    });
  });

  it('keeps language codes, and reports the model the server names', async () => {
    const { path } = await audioFile();
    fake.script({ json: { text: 'Hallo', language: 'de', segments: [{ start: 0, end: 1, text: 'Hallo' }] }, model: 'whisper-large-v3' });
    const result = await provider().transcribe({ path, mimeType: 'audio/wav' });
    expect(result).toMatchObject({ language: 'de', model: 'whisper-large-v3', segments: [{ start: 0, end: 1, text: 'Hallo' }] });
  });

  it('is retried by the SDK after a 429, with the file sent again in full', async () => {
    const { path, bytes } = await audioFile();
    fake.script({ status: 429, headers: { 'retry-after-ms': '10' } });
    const result = await provider().transcribe({ path, mimeType: 'audio/wav' });
    expect(result.text).toBe('Hello from the garden. We planted roses.');
    expect(fake.requests).toHaveLength(2);
    expect((fake.requests[1]!.body as Multipart).files['file']?.size).toBe(bytes.length);
  });
});

describe('transcribe: request shape and malformed output', () => {
  it('asks for the transcription model named in the settings, and reports it when the server names none', async () => {
    const { path } = await audioFile();
    const result = await provider({ models: { transcribe: 'whisper-large-v3-turbo', vision: 'v', story: 's' } }).transcribe({ path, mimeType: 'audio/wav' });
    const form = fake.requests[0]!.body as Multipart;
    expect(form.fields['model']).toEqual(['whisper-large-v3-turbo']);
    expect(form.fields['response_format']).toEqual(['verbose_json']);
    expect(form.fields['timestamp_granularities[]']).toEqual(['segment']);
    expect(result.model).toBe('whisper-large-v3-turbo');
  });

  it.each([
    ['text that is not a string', { text: 42, language: 'en', segments: [] }],
    ['no text at all', { language: 'en', segments: [{ start: 0, end: 1, text: 'Hi' }] }],
    ['segments that are not a list', { text: 'Hi', language: 'en', segments: 'Hi' }],
    ['a segment without an end', { text: 'Hi', language: 'en', segments: [{ start: 0, text: 'Hi' }] }],
    ['a segment whose times are strings', { text: 'Hi', language: 'en', segments: [{ start: '0', end: '1', text: 'Hi' }] }],
    ['a bare JSON string instead of verbose_json', 'Hi there'],
  ])('fails as final, in words for people, on %s', async (_what, json) => {
    const { path } = await audioFile();
    fake.script({ json });
    const error = await failure(provider().transcribe({ path, mimeType: 'audio/wav' }));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ message: 'The transcription model returned malformed output', retryable: false });
    const message = (error as Error).message;
    expect(message).not.toContain(KEY);
    expect(message).not.toContain(fake.url);
    expect(message).not.toMatch(/https?:|127\.0\.0\.1/);
    expect(fake.requests).toHaveLength(1);
  });

  it('accepts verbose_json without segments (some compatible servers leave them out) as text without timings', async () => {
    const { path } = await audioFile();
    fake.script({ json: { text: ' Just the words. ', language: 'english' } });
    const result = await provider().transcribe({ path, mimeType: 'audio/wav' });
    expect(result).toEqual({ provider: 'openai', model: 'whisper-1', text: 'Just the words.', language: 'en', segments: [], rough: false, confidence: null });
  });
});

describe('languageCode', () => {
  it('maps Whisper language names to ISO 639-1 and keeps codes', () => {
    expect(languageCode('english')).toBe('en');
    expect(languageCode('Portuguese')).toBe('pt');
    expect(languageCode('maori')).toBe('mi');
    expect(languageCode('lao')).toBe('lo');
    expect(languageCode('bengali')).toBe('bn');
    expect(languageCode('cantonese')).toBe('yue');
    expect(languageCode('fr')).toBe('fr');
    expect(languageCode('pt_BR')).toBe('pt-BR');
    expect(languageCode('klingonese')).toBeNull();
    expect(languageCode('')).toBeNull();
    expect(languageCode(null)).toBeNull();
  });
});

describe('describeImage', () => {
  it('sends the image as a data URL to the vision model with a strict JSON schema', async () => {
    const { path, bytes } = await imageFile();
    const result = await provider().describeImage({ path, mimeType: 'image/jpeg' }, { dateTaken: new Date('1962-06-01T12:00:00Z') });

    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0]!.path).toBe('/v1/chat/completions');
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
    const body = chatBody();
    expect(body.model).toBe('vision-model');
    expect(body.response_format.type).toBe('json_schema');
    expect(body.response_format.json_schema).toMatchObject({ name: 'image_description', strict: true });
    expect(body.response_format.json_schema.schema).toMatchObject({ type: 'object', additionalProperties: false, required: ['caption', 'tags'] });
    expect(systemPrompt()).toMatch(/family archive/);
    expect(systemPrompt()).toMatch(/3 to 12/);
    const user = chatBody().messages.find((m) => m.role === 'user')!;
    const parts = user.content as Array<{ type: string; text?: string; image_url?: { url: string } }>;
    const image = parts.find((p) => p.type === 'image_url')?.image_url?.url ?? '';
    expect(image.startsWith('data:image/jpeg;base64,')).toBe(true);
    expect(Buffer.from(image.slice('data:image/jpeg;base64,'.length), 'base64').equals(bytes)).toBe(true);
    expect(parts.find((p) => p.type === 'text')?.text).toContain('1962-06-01');

    expect(result).toEqual({
      provider: 'openai',
      model: 'vision-model',
      caption: 'A garden with a wooden bench.',
      tags: [
        { name: 'garden', confidence: 0.9 },
        { name: 'outdoors', confidence: 0.8 },
        { name: 'bench', confidence: 0.7 },
      ],
    });
  });

  it('lower-cases, dedupes and clamps tags; an empty caption is null', async () => {
    const { path } = await imageFile();
    const tags = [
      { name: 'Beach', confidence: 1.7 },
      { name: ' beach ', confidence: 0.4 },
      { name: 'Black  and White', confidence: -0.3 },
      { name: '  ', confidence: 0.5 },
      { name: 'SUNSET', confidence: 0.6 },
    ];
    fake.script({ content: JSON.stringify({ caption: '  ', tags }), model: 'llava:13b' });
    const result = await provider().describeImage({ path, mimeType: 'image/jpeg' }, {});
    expect(result).toEqual({
      provider: 'openai',
      model: 'llava:13b',
      caption: null,
      tags: [
        { name: 'beach', confidence: 1 },
        { name: 'sunset', confidence: 0.6 },
        { name: 'black and white', confidence: 0 },
      ],
    });
  });

  it('is retried by the SDK after two 500s', async () => {
    const { path } = await imageFile();
    fake.script({ status: 500, headers: { 'retry-after-ms': '10' } }, { status: 500, headers: { 'retry-after-ms': '10' } });
    const result = await provider().describeImage({ path, mimeType: 'image/jpeg' }, {});
    expect(result.caption).toBe('A garden with a wooden bench.');
    expect(fake.requests).toHaveLength(3);
  });

  it('rejects output that breaks the schema, without retrying', async () => {
    const { path } = await imageFile();
    fake.script({ content: JSON.stringify({ caption: 'x', tags: [{ name: 'a', confidence: 'high' }] }) });
    const error = await failure(provider().describeImage({ path, mimeType: 'image/jpeg' }, {}));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ message: 'The vision model returned malformed output', retryable: false });
    expect(fake.requests).toHaveLength(1);
  });
});

describe('generateStory', () => {
  it('asks the story model for strict JSON with citations, and keeps only citations of real memories', async () => {
    const draft = await provider().generateStory(context, everything);

    expect(fake.requests).toHaveLength(1);
    const body = chatBody();
    expect(body.model).toBe('story-model');
    expect(body.stream).toBe(true);
    expect(body.response_format.json_schema).toMatchObject({ name: 'life_story', strict: true });
    const schema = body.response_format.json_schema.schema;
    expect(schema).toMatchObject({ additionalProperties: false, required: ['title', 'paragraphs', 'timeline', 'themes'] });
    expect(schema['properties'].timeline.items.properties.description.type).toEqual(['string', 'null']);
    expect(schema['properties'].paragraphs.items.required).toEqual(['text', 'assetIds']);
    expect(systemPrompt()).toMatch(/cites in assetIds the ids of the memories/);
    expect(systemPrompt()).toMatch(/Never invent/);
    expect(systemPrompt()).toMatch(/thorough/);
    const data = JSON.parse(userPrompt().slice(userPrompt().indexOf('{'))) as { person: { name: string }; memories: Array<Record<string, unknown>> };
    expect(data.person.name).toBe('Rose Martin');
    expect(data.memories.map((m) => m['id'])).toEqual(['m1', 'm2', 'm3']);
    expect(data.memories[1]).toMatchObject({ kind: 'AUDIO', transcript: 'We planted roses every spring.', from: 'Anna (granddaughter)' });
    expect(data.memories[0]).not.toHaveProperty('transcript');

    expect(draft.provider).toBe('openai');
    expect(draft.model).toBe('story-model');
    expect(draft.title).toBe('The life of Rose Martin');
    expect(draft.paragraphs).toEqual([
      { text: 'Rose Martin kept a garden.\nShe always said "grow, little ones" — every spring, café \\ 🌻.', assetIds: ['m1'] },
      { text: 'Summers were spent by the sea, with the whole family around the table.', assetIds: ['m1', 'm2'] },
      { text: 'She is remembered with love.', assetIds: ['m2'] },
    ]);
    // The entry whose date is not a date is dropped.
    expect(draft.timeline).toEqual([{ date: '1962', title: 'The garden', description: null, assetIds: ['m1'] }]);
    expect(draft.themes).toEqual([{ name: 'Gardening', description: 'Roses, every year.', assetIds: ['m1', 'm2'] }]);
  });

  it('streams the narrative as it grows, ending with the paragraphs joined by blank lines', async () => {
    const seen: string[] = [];
    const draft = await provider().generateStory(context, everything, { onNarrative: (soFar) => seen.push(soFar) });
    expect(seen.length).toBeGreaterThan(5);
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.length).toBeGreaterThan(seen[i - 1]!.length);
      expect(seen[i]!.startsWith(seen[i - 1]!)).toBe(true);
    }
    expect(seen.at(-1)).toBe(draft.paragraphs.map((p) => p.text).join('\n\n'));
  });

  it('asks for empty timeline and themes when they are not wanted, and returns none', async () => {
    const draft = await provider().generateStory(context, { style: StoryStyle.EULOGY, includeTimeline: false, includeThemes: false });
    expect(systemPrompt()).toMatch(/timeline: return an empty array/);
    expect(systemPrompt()).toMatch(/themes: return an empty array/);
    expect(systemPrompt()).toMatch(/read aloud at a memorial/);
    expect(draft.timeline).toEqual([]);
    expect(draft.themes).toEqual([]);
    expect(draft.paragraphs.length).toBeGreaterThan(0);
  });

  it('words each style', async () => {
    const p = provider();
    await p.generateStory(context, { ...everything, style: StoryStyle.BRIEF });
    await p.generateStory(context, { ...everything, style: StoryStyle.FOR_CHILDREN });
    expect(systemPrompt(0)).toMatch(/2 to 3 paragraphs/);
    expect(systemPrompt(1)).toMatch(/young child/);
  });

  it('keeps the prompt within budget by cutting the longest excerpts first', async () => {
    const long = 'word '.repeat(40_000);
    const big: StoryContext = {
      person: context.person,
      memories: [
        { ...context.memories[1]!, id: 'long1', transcript: long },
        { ...context.memories[2]!, id: 'long2', text: long },
        { ...context.memories[2]!, id: 'short', text: 'A short note that must survive.' },
      ],
    };
    await provider().generateStory(big, everything);
    const json = userPrompt().slice(userPrompt().indexOf('{'));
    expect(json.length).toBeLessThanOrEqual(60_000);
    const data = JSON.parse(json) as { memories: Array<{ id: string; transcript?: string; text?: string }> };
    expect(data.memories.find((m) => m.id === 'short')?.text).toBe('A short note that must survive.');
    const cut = data.memories.find((m) => m.id === 'long1')?.transcript ?? '';
    expect(cut.endsWith('…')).toBe(true);
    expect(cut.length).toBeGreaterThan(1_000);
    expect(cut.length).toBeLessThan(long.length);
  });

  it('is retried by the SDK after a 429', async () => {
    fake.script({ status: 429, headers: { 'retry-after-ms': '10' } });
    const draft = await provider().generateStory(context, everything);
    expect(draft.paragraphs).toHaveLength(3);
    expect(fake.requests).toHaveLength(2);
  });

  it('fails as non-retryable on output that is not JSON or breaks the schema', async () => {
    fake.script({ content: 'Once upon a time {"title": nope' }, { content: JSON.stringify({ title: 'T', paragraphs: [{ text: 5, assetIds: [] }], timeline: [], themes: [] }) });
    const p = provider();
    for (let i = 0; i < 2; i++) {
      const error = await failure(p.generateStory(context, everything));
      expect(error).toBeInstanceOf(AiProviderError);
      expect(error).toMatchObject({ message: 'The story model returned malformed output', retryable: false });
    }
    expect(fake.requests).toHaveLength(2);
  });

  it('fails as retryable when the stream ends before the model finished', async () => {
    fake.script({ content: JSON.stringify({ title: 'T', paragraphs: [{ text: 'Cut', assetIds: [] }] }).slice(0, 30), finishReason: null });
    const error = await failure(provider().generateStory(context, everything));
    expect(error).toMatchObject({ name: 'AiProviderError', retryable: true });
  });

  it('stops when the signal is aborted, and the server sees the request go', async () => {
    fake.script({ chunkDelayMs: 20 });
    const controller = new AbortController();
    const seen: string[] = [];
    const error = await failure(
      provider().generateStory(context, everything, {
        signal: controller.signal,
        onNarrative: (soFar) => {
          seen.push(soFar);
          controller.abort();
        },
      }),
    );
    expect(error).toMatchObject({ name: 'AbortError' });
    expect(error).not.toBeInstanceOf(AiProviderError);
    expect(seen).toHaveLength(1);
    await vi.waitFor(() => expect(fake.requests[0]?.aborted).toBe(true));
  });

  it('gives up with a retryable timeout when the stream goes silent', async () => {
    fake.script({ stallAfterChunks: 4 });
    const error = await failure(provider({ timeoutMs: 500 }).generateStory(context, everything));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ message: 'The AI service did not answer in time', retryable: true });
    await vi.waitFor(() => expect(fake.requests[0]?.aborted).toBe(true));
  });
});

describe('errors', () => {
  it('a 429 that persists after the SDK retries is retryable, and leaks neither key nor body', async () => {
    const { path } = await imageFile();
    const busy = { status: 429, headers: { 'retry-after-ms': '5' } };
    fake.script(busy, busy, busy);
    const error = await failure(provider().describeImage({ path, mimeType: 'image/jpeg' }, {}));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ retryable: true });
    expect(fake.requests).toHaveLength(3);
    const message = (error as Error).message;
    expect(message).not.toContain(KEY);
    expect(message).not.toContain('internal details');
  });

  it('a server slower than the timeout is a retryable failure', async () => {
    const { path } = await imageFile();
    fake.script({ delayMs: 5_000 });
    const error = await failure(provider({ timeoutMs: 100, maxRetries: 0 }).describeImage({ path, mimeType: 'image/jpeg' }, {}));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ message: 'The AI service did not answer in time', retryable: true });
    expect(fake.requests).toHaveLength(1);
  });

  it('a 401 means the key was refused: final, not retried', async () => {
    const { path } = await audioFile();
    fake.script({ status: 401 });
    const error = await failure(provider().transcribe({ path, mimeType: 'audio/wav' }));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ message: 'The AI service refused the API key', retryable: false });
    expect((error as Error).message).not.toContain(KEY);
    expect(fake.requests).toHaveLength(1);
  });

  it('without a key, a 401 is reported the same way', async () => {
    fake.script({ status: 401 });
    const error = await failure(provider({ apiKey: null }).generateStory(context, everything));
    expect(error).toMatchObject({ message: 'The AI service refused the API key', retryable: false });
    expect(fake.requests[0]!.headers.authorization).toBe('Bearer not-needed');
  });

  it('other 4xx are final and name the status', async () => {
    const { path } = await imageFile();
    fake.script({ status: 400 }, { status: 404 });
    const p = provider();
    const bad = await failure(p.describeImage({ path, mimeType: 'image/jpeg' }, {}));
    expect(bad).toMatchObject({ message: 'The AI service rejected the request (HTTP 400)', retryable: false });
    const missing = await failure(p.describeImage({ path, mimeType: 'image/jpeg' }, {}));
    expect(missing).toMatchObject({ retryable: false });
    expect((missing as Error).message).toContain('"vision-model"');
    expect((missing as Error).message).toContain('HTTP 404');
    expect(fake.requests).toHaveLength(2);
  });

  it('a server that is not there is a retryable failure', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const { path } = await imageFile();
    const error = await failure(provider({ baseURL: `http://127.0.0.1:${port}/v1`, maxRetries: 0 }).describeImage({ path, mimeType: 'image/jpeg' }, {}));
    expect(error).toMatchObject({ name: 'AiProviderError', message: 'Could not reach the AI service', retryable: true });
  });

  it('does not offer OCR', () => {
    expect(provider().extractText).toBeUndefined();
  });
});
