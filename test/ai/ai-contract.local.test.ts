import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AiSettings } from '../../src/ai/ai.settings.js';
import { createLocalProvider } from '../../src/ai/local/local.provider.js';
import { aiContract } from './ai.contract.js';

/**
 * The offline provider with its engines: the object model and tesseract in their sandboxes, and
 * transcription without whisper.cpp or pocketsphinx (AiUnavailableError, as a fresh machine has).
 */
aiContract(
  'local (engines)',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dmc-ai-local-'));
    const settings: AiSettings = {
      providers: ['local'],
      openai: { baseURL: 'http://127.0.0.1:9/v1', apiKey: null, models: { transcribe: 'x', vision: 'x', story: 'x' }, timeoutMs: 1000, maxRetries: 0 },
      whisper: { binary: null, model: null },
      cacheDir: join(dir, 'cache'),
    };
    const provider = createLocalProvider(settings);
    return {
      provider,
      close: async () => {
        await provider.close?.();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { fileTasks: ['describeImage', 'extractText', 'transcribe'] },
);
