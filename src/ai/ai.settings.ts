import type { OpenAiSettings } from './openai.provider.js';
import type { SandboxLimits } from '../media/sandbox/sandbox.js';
import type { WhisperSettings } from './local/whisper.js';

/** AI configuration, from the environment (see config.ts and README "AI providers"). */
export interface AiSettings {
  /** Provider names in the order to try them for every task. */
  providers: string[];
  openai: OpenAiSettings;
  whisper: WhisperSettings;
  /** Where local engines may keep caches (tesseract reads its language data from the npm package each time). */
  cacheDir: string;
  /** Heap and time of the local engines' sandboxes (picture reads, OCR); set by startWorker from SANDBOX_*. Default: DEFAULT_SANDBOX_LIMITS. */
  sandbox?: SandboxLimits;
}
