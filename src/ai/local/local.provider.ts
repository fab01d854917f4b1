import { type AiSettings, VISION_OFF } from '../ai.settings.js';
import { type AiProvider, AiUnavailableError } from '../ai.port.js';
import { composeCaption } from './caption.js';
import { writeExtractiveStory } from './extractive-story.js';
import { looksLikeDocument, pageTags } from './image-tags.js';
import { OBJECT_MODEL, ObjectDetector, summariseObjects } from './objects.js';
import { pdfPageImages, TesseractOcr } from './ocr.js';
import { transcribeLocally } from './transcribe.js';

/**
 * The offline provider, the embedded default: nothing leaves the machine. OCR with tesseract.js
 * (English data from an npm package), picture tags from an object model (CenterNet, COCO's 80
 * kinds of thing) with a caption composed from them and what else is known, transcription with
 * whisper.cpp when one is configured (else a rough one with pocketsphinx when it is installed),
 * and an extractive story that only restates what the memories say.
 */
export function createLocalProvider(settings: AiSettings): AiProvider {
  const ocr = new TesseractOcr({ cacheDir: settings.cacheDir, limits: settings.sandbox });
  // Its process (and the model in it) starts with the first picture, never while vision is off.
  const objects = new ObjectDetector({ limits: settings.sandbox });
  return {
    name: 'local',
    transcribe: (audio) => transcribeLocally(settings, audio),
    async describeImage(image, hints) {
      if (settings.vision === false) throw new AiUnavailableError(VISION_OFF);
      // What it shows is the model's; whether it is a page of text a fact of its pixels, read on
      // the copy the detector's process decoded (one decode, no second sandbox).
      const look = await objects.look({ path: image.path, signal: image.signal, picture: true });
      const page = { tags: look.picture ? pageTags(look.picture) : [] };
      const seen = summariseObjects(look.objects);
      const isPage = looksLikeDocument(page.tags);
      const composedFrom = { by: 'local' as const, objects: isPage ? [{ label: 'page of text', count: 1 }, ...seen.counts] : seen.counts };
      const caption = composeCaption({ people: hints.people ?? [], objects: composedFrom.objects, place: hints.place ?? null, date: hints.dateTaken ?? null });
      // What it was composed from goes with it, so the caption can follow the family's later decisions.
      return { provider: 'local', model: OBJECT_MODEL, tags: [...page.tags, ...seen.tags], caption, composedFrom };
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
    close: async () => {
      await Promise.all([ocr.close(), objects.close()]);
    },
  };
}
