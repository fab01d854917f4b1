import { createOpenAiProvider } from '../../src/ai/openai.provider.js';
import { startFakeOpenAi } from '../support/fake-openai.js';
import { aiContract } from './ai.contract.js';

// The real openai client against the loopback fake OpenAI server; no retries, so a failure shows at once.
aiContract(
  'openai (loopback fake server)',
  async () => {
    const fake = await startFakeOpenAi();
    const provider = createOpenAiProvider({
      baseURL: fake.url,
      apiKey: 'sk-contract-1234',
      models: { transcribe: 'whisper-1', vision: 'vision-model', story: 'story-model' },
      timeoutMs: 10_000,
      maxRetries: 0,
    });
    return {
      provider,
      failNext: () => fake.script({ status: 500 }),
      close: async () => {
        await provider.close?.();
        await fake.close();
      },
    };
  },
  // extractText: openai offers no OCR (the method is absent).
  { fileTasks: ['describeImage', 'transcribe'] },
);
