import type { AiSettings } from '../ai.settings.js';
import type { AiProvider } from '../ai.port.js';
import { writeExtractiveStory } from './extractive-story.js';
import { describeLocally } from './image-tags.js';
import { pdfPageImages, TesseractOcr } from './ocr.js';
import { transcribeWithWhisperCpp } from './whisper.js';

/**
 * The offline provider, the embedded default: nothing leaves the machine. OCR with tesseract.js
 * (English data from an npm package), picture tags from what pixels and EXIF can tell without a
 * model, transcription with whisper.cpp when one is configured, and an extractive story that only
 * restates what the memories say.
 */
export function createLocalProvider(settings: AiSettings): AiProvider {
  const ocr = new TesseractOcr({ cacheDir: settings.cacheDir, limits: settings.sandbox });
  return {
    name: 'local',
    transcribe: (audio) => transcribeWithWhisperCpp(settings.whisper, audio.path, audio.signal),
    async describeImage(image, hints) {
      const { tags, caption } = await describeLocally(image.path, hints, { limits: settings.sandbox, signal: image.signal });
      return { provider: 'local', model: 'pixel-statistics-v1', tags, caption };
    },
    async extractText(scan) {
      if (scan.mimeType === 'application/pdf') {
        const pages: string[] = [];
        let confidence = 0;
        const images = await pdfPageImages(scan.path, 20, { limits: settings.sandbox, signal: scan.signal });
        for (const image of images) {
          scan.signal?.throwIfAborted();
          const page = await ocr.recognize({ image }, scan.signal);
          if (page.text) pages.push(page.text);
          confidence += page.confidence ?? 0;
        }
        return { provider: 'local', model: 'tesseract-eng', text: pages.join('\n\n'), confidence: images.length ? confidence / images.length : null };
      }
      const { text, confidence } = await ocr.recognize({ path: scan.path }, scan.signal);
      return { provider: 'local', model: 'tesseract-eng', text, confidence };
    },
    async generateStory(context, options, stream) {
      return writeExtractiveStory(context, options, stream?.onNarrative);
    },
    close: () => ocr.close(),
  };
}
