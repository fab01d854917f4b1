import type { StoryParagraph } from './ai.port.js';

/**
 * The plain-text narrative: paragraph texts separated by a blank line. The shape storyProgress
 * streams (StoryStreamOptions.onNarrative) and Story.content stores, whichever provider wrote it.
 */
export function narrativeOf(paragraphs: readonly Pick<StoryParagraph, 'text'>[]): string {
  return paragraphs.map((paragraph) => paragraph.text).join('\n\n');
}
