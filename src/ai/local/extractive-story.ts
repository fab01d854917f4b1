import { AiProviderError, type StoryContext, type StoryDraft, type StoryOptions } from '../ai.port.js';
import { narrativeOf } from '../narrative.js';
import { writeBook } from './book/chapters.js';
import { gather } from './book/material.js';
import { themesOf } from './book/themes.js';
import { timelineOf } from './book/timeline.js';
import { VOICES } from './book/voices.js';
import { lifeSpan } from './book/wording.js';

/**
 * The story writer that needs no model: a memory book made of what people wrote and said. Its
 * chapters follow the life, from the birth date through its decades, split into periods where a
 * move or new company marks one (headed by their places and people), to the passing, then a remembrance chapter for what was added
 * after it and for the guests' messages. It quotes letters and transcripts verbatim (never a rough
 * transcript), uses the captions and places people typed and the people they named, and never
 * writes a fact of its own or a pixel statistic. Output is a pure function of the input (no clock,
 * no randomness; the days may come in any order, a day's memories in the order they were taken, as
 * the context gives them). Every paragraph, timeline entry and theme cites the memories it speaks of.
 *
 * No memories at all: throws a final AiProviderError. There is nothing true to write, and the
 * service refuses such stories before it gets here.
 */

const PROVIDER = 'local';
const MODEL = 'memory-book-v1';

export function writeExtractiveStory(context: StoryContext, options: StoryOptions, onNarrative?: (soFar: string) => void): StoryDraft {
  if (context.memories.length === 0) throw new AiProviderError('There are no memories to write a story from yet.', false);
  const material = gather(context);
  const voice = VOICES[options.style];
  const paragraphs = writeBook(context, material, voice);
  // Paragraph by paragraph, as a writer would: storyProgress shows the book growing.
  paragraphs.forEach((_, index) => onNarrative?.(narrativeOf(paragraphs.slice(0, index + 1))));
  return {
    provider: PROVIDER,
    model: MODEL,
    title: voice.title(material, lifeSpan(context)),
    paragraphs,
    timeline: options.includeTimeline ? timelineOf(material, voice) : [],
    themes: options.includeThemes ? themesOf(material) : [],
  };
}
