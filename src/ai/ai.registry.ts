import { type AiSettings, VISION_OFF } from './ai.settings.js';
import {
  type AiFile,
  type AiProvider,
  AiProviderError,
  type AiTask,
  AiUnavailableError,
  type ImageDescription,
  type ImageHints,
  type OcrText,
  type StoryContext,
  type StoryDraft,
  type StoryOptions,
  type StoryStreamOptions,
  type Transcript,
} from './ai.port.js';
import { createLocalProvider } from './local/local.provider.js';
import { createOpenAiProvider } from './openai.provider.js';

export type ProviderFactory = (settings: AiSettings) => AiProvider;

const factories = new Map<string, ProviderFactory>();

/** The extension point: a provider under a name that AI_PROVIDERS can list. */
export function registerProvider(name: string, factory: ProviderFactory): void {
  if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`provider name ${JSON.stringify(name)}: lower case letters, digits and dashes`);
  factories.set(name, factory);
}

export function registeredProviders(): string[] {
  return [...factories.keys()];
}

registerProvider('local', createLocalProvider);
registerProvider('openai', (s) => createOpenAiProvider(s.openai));

/** The AI as the rest of the product sees it: every task, tried along the configured chain. */
export interface Ai {
  readonly chain: readonly string[];
  transcribe(audio: AiFile): Promise<Transcript>;
  describeImage(image: AiFile, hints: ImageHints): Promise<ImageDescription>;
  extractText(scan: AiFile): Promise<OcrText>;
  generateStory(context: StoryContext, options: StoryOptions, stream?: StoryStreamOptions): Promise<StoryDraft>;
  close(): Promise<void>;
}

/**
 * Builds the chain named by `settings.providers`. A task goes to the first provider that offers
 * it; when that one is unavailable or fails, the next is tried. When all fail, a retryable failure
 * wins (the job tries again later); otherwise the first real failure, or "unavailable" with every
 * provider's reason. A rough transcript (pocketsphinx's) does not end the chain: a later provider's
 * transcript replaces it, and it is kept when none gives one.
 */
export function createAi(settings: AiSettings, extra: Record<string, AiProvider> = {}): Ai {
  const providers = settings.providers.map((name) => {
    // Own properties only: "constructor" is a valid AI_PROVIDERS name and every object has one.
    const given = Object.hasOwn(extra, name) ? extra[name] : undefined;
    if (given) return given;
    const factory = factories.get(name);
    if (!factory) throw new Error(`Unknown AI provider "${name}" (known: ${registeredProviders().join(', ')})`);
    return factory(settings);
  });

  /**
   * `settle`: whether a result ends the search; one that does not (a rough transcript) is kept,
   * the rest of the chain is asked for a better one, and it is returned if none answers.
   */
  async function run<T>(task: AiTask, call: (p: AiProvider) => Promise<T> | undefined, settle: (result: T) => boolean = () => true): Promise<T> {
    const unavailable: string[] = [];
    let failure: AiProviderError | null = null;
    let retryable: AiProviderError | null = null;
    let fallback: { result: T } | null = null;
    for (const p of providers) {
      const pending = call(p);
      if (!pending) continue;
      try {
        const result = await pending;
        if (settle(result)) return result;
        fallback ??= { result };
      } catch (err) {
        if (err instanceof AiUnavailableError) unavailable.push(err.message);
        else if (err instanceof AiProviderError) {
          failure ??= err;
          if (err.retryable) retryable ??= err;
        } else throw err;
      }
    }
    // A rough answer beats none, and beats waiting for a retry that may never do better.
    if (fallback) return fallback.result;
    if (retryable) throw retryable;
    if (failure) throw failure;
    throw new AiUnavailableError(unavailable.length ? unavailable.join('; ') : `No configured AI provider can ${TASK_WORDS[task]}`);
  }

  return {
    chain: settings.providers,
    transcribe: (audio) => run('transcribe', (p) => p.transcribe?.(audio), (transcript) => !transcript.rough),
    describeImage: (image, hints) =>
      settings.vision === false ? Promise.reject(new AiUnavailableError(VISION_OFF)) : run('describeImage', (p) => p.describeImage?.(image, hints)),
    extractText: (scan) => run('extractText', (p) => p.extractText?.(scan)),
    generateStory: (context, options, stream) => run('generateStory', (p) => p.generateStory?.(context, options, stream)),
    async close() {
      await Promise.all(providers.map((p) => p.close?.()));
    },
  };
}

const TASK_WORDS: Record<AiTask, string> = {
  transcribe: 'transcribe speech',
  describeImage: 'describe pictures',
  extractText: 'read text from scans',
  generateStory: 'write stories',
};
