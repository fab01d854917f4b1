import { type AiFile, AiUnavailableError, type Transcript } from '../ai.port.js';
import type { AiSettings } from '../ai.settings.js';
import { findPocketsphinx, runPocketsphinx } from './pocketsphinx.js';
import { transcribeWithWhisperCpp } from './whisper.js';

export const NO_LOCAL_TRANSCRIPTION =
  'No transcription backend is configured (set WHISPER_CPP_PATH and WHISPER_MODEL_PATH, install pocketsphinx with its English model, or use an OpenAI-compatible server)';

/**
 * The local provider's ears. whisper.cpp when it is configured (either path set: if the other is
 * missing, or a file is, its own error says so rather than a rough engine quietly standing in);
 * otherwise pocketsphinx when it is installed, whose transcripts are rough; otherwise unavailable,
 * saying what to set up.
 */
export async function transcribeLocally(settings: Pick<AiSettings, 'whisper' | 'pocketsphinx'>, audio: AiFile): Promise<Transcript> {
  const { whisper, pocketsphinx } = settings;
  if (whisper?.binary || whisper?.model) return transcribeWithWhisperCpp(whisper, audio.path, audio.signal);
  const found = pocketsphinx ? await findPocketsphinx(pocketsphinx) : null;
  if (pocketsphinx && found) return runPocketsphinx(found, pocketsphinx, audio.path, audio.signal);
  throw new AiUnavailableError(NO_LOCAL_TRANSCRIPTION);
}
