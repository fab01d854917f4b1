import { basename, extname } from 'node:path';
import type { AiFile } from '../ai.port.js';

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
export function uploadName(file: AiFile): string {
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

