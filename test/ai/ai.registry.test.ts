import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AiFile,
  type AiProvider,
  AiProviderError,
  AiUnavailableError,
  type OcrText,
  type Transcript,
} from '../../src/ai/ai.port.js';
import { type Ai, createAi, registeredProviders, registerProvider } from '../../src/ai/ai.registry.js';
import { type AiSettings, VISION_OFF } from '../../src/ai/ai.settings.js';
import { createOpenAiProvider, type OpenAiSettings } from '../../src/ai/openai.provider.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { type FakeOpenAi, type Multipart, startFakeOpenAi } from '../support/fake-openai.js';
import { jpeg, letterScan, wav } from '../support/media.js';
import { pocketsphinxInstalled } from '../support/speech-testdata.js';

/**
 * The provider chain with the real providers: the offline one, and the OpenAI one talking to the
 * loopback fake server. Whisper.cpp is not installed here, and the settings below leave
 * pocketsphinx out unless a test adds it, so the local provider cannot transcribe.
 */

const KEY = 'sk-test-chain-5678';

let fake: FakeOpenAi;
let dir: string;
const opened: Ai[] = [];

beforeEach(async () => {
  fake = await startFakeOpenAi();
  dir = await mkdtemp(join(tmpdir(), 'dmc-chain-'));
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((ai) => ai.close()));
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function settings(providers: string[], openai: Partial<OpenAiSettings> = {}, whisper: AiSettings['whisper'] = { binary: null, model: null }): AiSettings {
  return {
    providers,
    openai: {
      baseURL: fake.url,
      apiKey: KEY,
      models: { transcribe: 'whisper-1', vision: 'vision-model', story: 'story-model' },
      timeoutMs: 10_000,
      maxRetries: 2,
      ...openai,
    },
    whisper,
    cacheDir: join(dir, 'cache'),
  };
}

function chain(providers: string[], openai: Partial<OpenAiSettings> = {}, whisper?: AiSettings['whisper']): Ai {
  const ai = createAi(settings(providers, openai, whisper));
  opened.push(ai);
  return ai;
}

async function audio(): Promise<AiFile> {
  const path = join(dir, 'voice.wav');
  await writeFile(path, wav(16_000, (i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 16_000))));
  return { path, mimeType: 'audio/wav' };
}

async function photo(): Promise<AiFile> {
  const path = join(dir, 'photo.jpg');
  await writeFile(path, await jpeg(96, 64, '#3a7d2c'));
  return { path, mimeType: 'image/jpeg' };
}

async function scan(): Promise<AiFile> {
  const path = join(dir, 'letter.jpg');
  await writeFile(path, await letterScan(['Dear Rose,', 'The apple tree is in bloom again.']));
  return { path, mimeType: 'image/jpeg' };
}

/** The rejection of `promise`, which must reject. */
async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable('expected a failure'),
    (error: unknown) => error,
  );
}

const busy = { status: 429, headers: { 'retry-after-ms': '5' } };
const down = { status: 503, headers: { 'retry-after-ms': '5' } };
const transcriptionRequests = (server: FakeOpenAi) => server.requests.filter((r) => r.path === '/v1/audio/transcriptions');

describe('local,openai: prefer local, fall back to the API', () => {
  it('transcription, which local cannot do without whisper.cpp, is done by openai and says so', async () => {
    fake.script({ model: 'whisper-large-v3' });
    const transcript = await chain(['local', 'openai']).transcribe(await audio());

    expect(transcript).toMatchObject({ provider: 'openai', model: 'whisper-large-v3', language: 'en', text: 'Hello from the garden. We planted roses.' });
    expect(transcript.segments).toHaveLength(2);
    expect(transcriptionRequests(fake)).toHaveLength(1);
  });

  it('falls back the same way when whisper.cpp is configured but not there', async () => {
    const missing = { binary: join(dir, 'no-such-whisper-cli'), model: join(dir, 'ggml-base.bin') };
    const transcript = await chain(['local', 'openai'], {}, missing).transcribe(await audio());
    expect(transcript).toMatchObject({ provider: 'openai', model: 'whisper-1' });
    expect(fake.requests).toHaveLength(1);
  });

  it('describes pictures locally, and nothing is sent to the API', async () => {
    const description = await chain(['local', 'openai']).describeImage(await photo(), {});
    // A plain green picture: the object model sees nothing in it, and colours are no longer tags.
    // The (empty) caption was composed here, from nothing seen: it says so, to be composed again later.
    expect(description).toEqual({ provider: 'local', model: 'centernet-coco', tags: [], caption: null, composedFrom: { by: 'local', objects: [] } });
    expect(fake.requests).toHaveLength(0);
  });

  it('with vision off (AI_VISION=off), describes no picture, asks no provider, and says why', async () => {
    const ai = createAi({ ...settings(['openai', 'local']), vision: false });
    opened.push(ai);
    const error = await failure(ai.describeImage(await photo(), {}));
    expect(error).toBeInstanceOf(AiUnavailableError);
    expect((error as Error).message).toBe(VISION_OFF);
    expect(fake.requests).toHaveLength(0);
    // Everything else still works.
    expect((await ai.extractText(await scan())).text.toLowerCase()).toContain('apple tree');
    expect(loadConfig({ AI_VISION: 'off' }).ai.vision).toBe(false);
    expect(loadConfig({}).ai.vision).toBe(true);
    expect(() => loadConfig({ AI_VISION: 'no' })).toThrow(/AI_VISION: must be on or off/);
  });

  it('takes the chain and the models from the environment', async () => {
    const config = loadConfig({ AI_PROVIDERS: ' local , openai ', OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: KEY, OPENAI_TRANSCRIBE_MODEL: 'whisper-large-v3-turbo', AI_MAX_RETRIES: '0' });
    const ai = createAi({ ...config.ai, cacheDir: join(dir, 'cache') });
    opened.push(ai);
    expect(ai.chain).toEqual(['local', 'openai']);

    const transcript = await ai.transcribe(await audio());
    expect(transcript).toMatchObject({ provider: 'openai', model: 'whisper-large-v3-turbo' });
    const form = fake.requests[0]!.body as Multipart;
    expect(form.fields['model']).toEqual(['whisper-large-v3-turbo']);
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${KEY}`);
  });
});

describe('openai,local: prefer the API, keep local for what it does not offer', () => {
  it('reads text from scans locally, since openai offers no OCR', async () => {
    const text = await chain(['openai', 'local']).extractText(await scan());
    expect(text).toMatchObject({ provider: 'local', model: 'tesseract-eng' });
    expect(text.text.toLowerCase()).toContain('apple tree');
    expect(text.confidence).toBeGreaterThan(0.5);
    expect(fake.requests).toHaveLength(0);
  });

  it('describes pictures with openai when it answers', async () => {
    const description = await chain(['openai', 'local']).describeImage(await photo(), {});
    expect(description).toMatchObject({ provider: 'openai', model: 'vision-model', caption: 'A garden with a wooden bench.' });
    expect(fake.requests).toHaveLength(1);
  });

  it('describes pictures locally when openai keeps failing after its retries', async () => {
    fake.script(down, down, down);
    const description = await chain(['openai', 'local']).describeImage(await photo(), {});
    expect(description).toMatchObject({ provider: 'local', model: 'centernet-coco' });
    expect(fake.requests).toHaveLength(3);
  });

  it('a rate limit that outlasts the retries is reported as retryable, not as "unavailable"', async () => {
    fake.script(busy, busy, busy);
    const error = await failure(chain(['openai', 'local']).transcribe(await audio()));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).not.toBeInstanceOf(AiUnavailableError);
    expect(error).toMatchObject({ message: 'The AI service is rate limiting requests (HTTP 429)', retryable: true });
    expect(transcriptionRequests(fake)).toHaveLength(3);
  });

  it('a 5xx that outlasts the retries is retryable too', async () => {
    fake.script(down, down, down);
    const error = await failure(chain(['openai', 'local']).transcribe(await audio()));
    expect(error).toMatchObject({ name: 'AiProviderError', message: 'The AI service had a temporary problem (HTTP 503)', retryable: true });
  });

  it('a refused key is final: the job is marked failed, with a message that leaks nothing', async () => {
    fake.script({ status: 401 });
    const error = await failure(chain(['openai', 'local']).transcribe(await audio()));
    expect(error).toBeInstanceOf(AiProviderError);
    expect(error).toMatchObject({ message: 'The AI service refused the API key', retryable: false });
    expect((error as Error).message).not.toContain(KEY);
    expect(fake.requests).toHaveLength(1);
  });
});

describe('several failures along the chain', () => {
  let spare: FakeOpenAi;
  const spareName = 'openai-spare';

  beforeEach(async () => {
    spare = await startFakeOpenAi();
    // A second OpenAI-compatible server under its own name: what registerProvider is for.
    registerProvider(spareName, (s) => createOpenAiProvider({ ...s.openai, baseURL: spare.url }));
  });

  afterEach(async () => {
    await spare.close();
  });

  it('a retryable failure wins over a final one, in either order, so the job is tried again', async () => {
    fake.script({ status: 401 });
    spare.script(down, down, down);
    const first = await failure(chain(['openai', spareName]).transcribe(await audio()));
    expect(first).toMatchObject({ name: 'AiProviderError', message: 'The AI service had a temporary problem (HTTP 503)', retryable: true });

    fake.script({ status: 401 });
    spare.script(busy, busy, busy);
    const second = await failure(chain([spareName, 'openai']).transcribe(await audio()));
    expect(second).toMatchObject({ name: 'AiProviderError', message: 'The AI service is rate limiting requests (HTTP 429)', retryable: true });

    expect(transcriptionRequests(fake)).toHaveLength(2);
    expect(transcriptionRequests(spare)).toHaveLength(6);
  });

  it('when every failure is final, the first is reported', async () => {
    fake.script({ status: 401 });
    spare.script({ status: 400 });
    const error = await failure(chain(['openai', spareName]).transcribe(await audio()));
    expect(error).toMatchObject({ name: 'AiProviderError', message: 'The AI service refused the API key', retryable: false });
    expect(spare.requests).toHaveLength(1);
  });

  it('a provider that fails is passed over for the next that can do the task', async () => {
    fake.script({ status: 401 });
    const transcript = await chain(['openai', spareName]).transcribe(await audio());
    expect(transcript.provider).toBe('openai');
    expect(transcriptionRequests(fake)).toHaveLength(1);
    expect(transcriptionRequests(spare)).toHaveLength(1);
  });
});

describe('a task nobody can do', () => {
  it('OCR with only openai configured is unavailable, in words for people', async () => {
    const error = await failure(chain(['openai']).extractText(await scan()));
    expect(error).toBeInstanceOf(AiUnavailableError);
    expect((error as Error).message).toBe('No configured AI provider can read text from scans');
    expect(fake.requests).toHaveLength(0);
  });

  it('transcription with only local configured is unavailable, saying what to set up', async () => {
    const error = await failure(chain(['local']).transcribe(await audio()));
    expect(error).toBeInstanceOf(AiUnavailableError);
    expect((error as Error).message).toMatch(/WHISPER_CPP_PATH/);
    expect((error as Error).message).toMatch(/OpenAI-compatible server/);
  });
});

/** A provider that reads plain-text "scans" and has no speech engine: a real, tiny implementation of the port. */
class PlainTextProvider implements AiProvider {
  readonly name = 'plain-text';
  closed = 0;
  constructor(readonly cacheDir: string) {}

  async extractText(scan: AiFile): Promise<OcrText> {
    if (scan.mimeType !== 'text/plain') throw new AiUnavailableError('plain-text reads only text files');
    return { provider: this.name, model: 'utf8', text: (await readFile(scan.path, 'utf8')).trim(), confidence: 1 };
  }

  async transcribe(): Promise<Transcript> {
    throw new AiUnavailableError('plain-text has no speech engine');
  }

  async close(): Promise<void> {
    this.closed++;
  }
}

describe('registerProvider', () => {
  const made: PlainTextProvider[] = [];
  registerProvider('plain-text', (s) => {
    const p = new PlainTextProvider(s.cacheDir);
    made.push(p);
    return p;
  });

  it('adds a provider that the chain uses by name, built from the same settings', async () => {
    expect(registeredProviders()).toEqual(expect.arrayContaining(['local', 'openai', 'plain-text']));
    const path = join(dir, 'note.txt');
    await writeFile(path, '  Remember the roses.\n');
    const ai = chain(['openai', 'plain-text', 'local']);
    const provider = made.at(-1)!;
    expect(provider.cacheDir).toBe(join(dir, 'cache'));

    expect(await ai.extractText({ path, mimeType: 'text/plain' })).toEqual({ provider: 'plain-text', model: 'utf8', text: 'Remember the roses.', confidence: 1 });
    // A picture it cannot read goes on to local's OCR.
    expect(await ai.extractText(await scan())).toMatchObject({ provider: 'local', model: 'tesseract-eng' });

    await ai.close();
    expect(provider.closed).toBe(1);
  });

  it('reports every provider\'s reason when none of them can do the task', async () => {
    const error = await failure(chain(['plain-text', 'local']).transcribe(await audio()));
    expect(error).toBeInstanceOf(AiUnavailableError);
    const message = (error as Error).message;
    expect(message).toContain('plain-text has no speech engine');
    expect(message).toContain('WHISPER_CPP_PATH');
  });

  it('also takes a ready-made provider under a name, for this chain only', async () => {
    const notes = new PlainTextProvider(dir);
    const path = join(dir, 'note.txt');
    await writeFile(path, 'Sunday lunch at noon.');
    const ai = createAi(settings(['notes', 'local']), { notes });
    opened.push(ai);
    expect(await ai.extractText({ path, mimeType: 'text/plain' })).toMatchObject({ provider: 'plain-text', text: 'Sunday lunch at noon.' });
    expect(registeredProviders()).not.toContain('notes');
  });

  it('refuses names that AI_PROVIDERS could not list', () => {
    const factory = () => new PlainTextProvider(dir);
    expect(() => registerProvider('Plain Text', factory)).toThrow(/lower case letters, digits and dashes/);
    expect(() => registerProvider('', factory)).toThrow(/lower case letters, digits and dashes/);
    expect(() => registerProvider('9lives', factory)).toThrow(/lower case letters, digits and dashes/);
    expect(registeredProviders()).not.toContain('Plain Text');
  });
});

describe('unknown providers', () => {
  it('are refused when the chain is created, naming the known ones', () => {
    expect(() => createAi(settings(['local', 'gpt-9']))).toThrow('Unknown AI provider "gpt-9" (known: local, openai');
  });

  it('are refused even when the name is a property every object has', () => {
    // "constructor" passes the AI_PROVIDERS format check; it must not be taken from Object.prototype.
    const config = loadConfig({ AI_PROVIDERS: 'local,constructor' });
    expect(() => createAi(config.ai)).toThrow('Unknown AI provider "constructor"');
    expect(() => createAi(settings(['constructor']), {})).toThrow('Unknown AI provider "constructor"');
  });

  it('from the environment: a malformed list is refused by the config, an unknown name by createAi', () => {
    const malformed = () => loadConfig({ AI_PROVIDERS: 'Local;OpenAI' });
    expect(malformed).toThrow(ConfigError);
    expect(malformed).toThrow(/AI_PROVIDERS: must be provider names separated by commas/);

    const config = loadConfig({ AI_PROVIDERS: 'local,whisper-server' });
    expect(() => createAi(config.ai)).toThrow(/Unknown AI provider "whisper-server" \(known: .*local.*openai/);
  });
});

describe('rough transcripts (pocketsphinx) in the chain', () => {
  const heard = (provider: string, rough: boolean): Transcript => ({
    provider,
    model: `${provider}-model`,
    text: 'the garden',
    language: 'en',
    segments: [{ start: 0, end: 1, text: 'the garden' }],
    rough,
    confidence: rough ? 0.6 : null,
  });
  const speaking = (name: string, answer: () => Promise<Transcript>): AiProvider & { calls: number } => {
    const p = {
      name,
      calls: 0,
      transcribe: async () => {
        p.calls += 1;
        return answer();
      },
    };
    return p;
  };

  it('a later provider’s transcript replaces a rough one; a rough one is kept when nobody does better', async () => {
    const rough = speaking('rough', async () => heard('rough', true));
    const good = speaking('good', async () => heard('good', false));
    const down = speaking('down', async () => {
      throw new AiProviderError('The AI service is overloaded (429)', true);
    });
    const none = speaking('none', async () => {
      throw new AiUnavailableError('none has no speech engine');
    });
    const ai = (names: string[]) => createAi(settings(names), { rough, good, down, none });

    expect(await ai(['rough', 'good']).transcribe(await audio())).toMatchObject({ provider: 'good', rough: false });
    expect(await ai(['good', 'rough']).transcribe(await audio())).toMatchObject({ provider: 'good' });
    expect(rough.calls).toBe(1); // a transcript that is not rough ends the chain
    expect(await ai(['rough', 'none', 'down']).transcribe(await audio())).toMatchObject({ provider: 'rough', rough: true, confidence: 0.6 });
    expect(await ai(['rough']).transcribe(await audio())).toMatchObject({ provider: 'rough', rough: true });
  });

  it.runIf(pocketsphinxInstalled)('local,openai with pocketsphinx installed and no whisper.cpp: the API’s transcript wins over the rough one', async () => {
    fake.script({ model: 'whisper-large-v3' });
    const ai = createAi({ ...settings(['local', 'openai']), pocketsphinx: { binary: null, modelDir: null } });
    opened.push(ai);
    expect(await ai.transcribe(await audio())).toMatchObject({ provider: 'openai', model: 'whisper-large-v3', rough: false });
    expect(transcriptionRequests(fake)).toHaveLength(1);
  });

  it.runIf(pocketsphinxInstalled)('local alone with pocketsphinx installed transcribes, roughly', async () => {
    const ai = createAi({ ...settings(['local']), pocketsphinx: { binary: null, modelDir: null } });
    opened.push(ai);
    expect(await ai.transcribe(await audio())).toMatchObject({ provider: 'local', model: 'pocketsphinx-en-us', rough: true });
  });

  it('pocketsphinx is looked for by default and never used with POCKETSPHINX_PATH=off', () => {
    expect(loadConfig({}).ai.pocketsphinx).toEqual({ binary: null, modelDir: null, memoryMb: 512, timeoutMs: 3_600_000 });
    expect(loadConfig({ POCKETSPHINX_PATH: '/opt/ps/bin/pocketsphinx_continuous', POCKETSPHINX_MODEL_DIR: '/opt/ps/model/en-us', POCKETSPHINX_MEMORY_MB: '256', POCKETSPHINX_TIMEOUT_SECONDS: '600' }).ai.pocketsphinx).toEqual({
      binary: '/opt/ps/bin/pocketsphinx_continuous',
      modelDir: '/opt/ps/model/en-us',
      memoryMb: 256,
      timeoutMs: 600_000,
    });
    expect(loadConfig({ POCKETSPHINX_PATH: 'off' }).ai.pocketsphinx).toBeUndefined();
  });
});
