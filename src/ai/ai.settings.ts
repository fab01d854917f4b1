import type { OpenAiSettings } from './openai.provider.js';
import type { SandboxLimits } from '../media/sandbox/sandbox.js';
import type { PocketsphinxSettings } from './local/pocketsphinx.js';
import type { WhisperSettings } from './local/whisper.js';

/** AI configuration, from the environment (see config.ts and docs/ai.md "Providers"). */
export interface AiSettings {
  /** Provider names in the order to try them for every task. */
  providers: string[];
  /** false (AI_VISION=off): describeImage is unavailable with that reason, and no provider is asked. Default true. */
  vision?: boolean;
  openai: OpenAiSettings;
  whisper: WhisperSettings;
  /** The rough offline recogniser used when whisper.cpp is not configured; absent: not used (POCKETSPHINX_PATH=off). */
  pocketsphinx?: PocketsphinxSettings;
  /** Where local engines may keep caches (tesseract reads its language data from the npm package each time). */
  cacheDir: string;
  /** Heap and time of the local engines' sandboxes (picture reads, OCR); set by startWorker from SANDBOX_*. Default: DEFAULT_SANDBOX_LIMITS. */
  sandbox?: SandboxLimits;
}

/** Recorded on every picture's describeImage analysis while vision is off. */
export const VISION_OFF = 'Describing pictures is turned off here (AI_VISION=off): no object model is loaded and no picture is sent to a vision service';
