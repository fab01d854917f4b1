import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoryContext, StoryMemory } from '../../../src/ai/ai.port.js';
import { writeExtractiveStory } from '../../../src/ai/local/extractive-story.js';
import { createOpenAiProvider, storyContextJson } from '../../../src/ai/openai.provider.js';
import { FileType, StoryStyle } from '../../../src/db/enums.js';
import { type FakeOpenAi, startFakeOpenAi } from '../../support/fake-openai.js';

/**
 * A rough transcript (pocketsphinx's guesses) is never quoted as a person's words: the local
 * writer quotes and excerpts only transcripts that are not rough, and the openai prompt marks the
 * rough ones and says how to treat them.
 */

const HEARD = 'had he married a more amiable woman he might have been made still more respectable many watts';
const SPOKEN = 'We planted the apple tree the week Anna was born.';

function recording(id: string, transcript: string, roughTranscript: boolean, date: string): StoryMemory {
  return { id, kind: FileType.AUDIO, title: 'Recording', date, caption: null, tags: [], transcript, roughTranscript, text: null, contributor: null, relationship: null };
}

const context = (memories: StoryMemory[]): StoryContext => ({ person: { name: 'Rose Ellis', birthDate: null, passingDate: null, description: null }, memories });

describe('the local writer and rough transcripts', () => {
  it.each(Object.values(StoryStyle))('%s: quotes the transcript that is not rough, and no word run of the rough one', (style) => {
    const draft = writeExtractiveStory(context([recording('rough', HEARD, true, '1990-05-01'), recording('whisper', SPOKEN, false, '1962-06-01')]), {
      style,
      includeTimeline: true,
      includeThemes: true,
    });
    const written = [...draft.paragraphs.map((p) => p.text), ...draft.timeline.flatMap((t) => [t.title, t.description ?? ''])].join('\n');
    expect(written).toContain(`“${SPOKEN}”`);
    const heard = HEARD.split(' ');
    for (let i = 0; i + 4 <= heard.length; i++) expect(written).not.toContain(heard.slice(i, i + 4).join(' '));
    // The rough recording is still part of the story, named and cited, just not quoted.
    expect(draft.paragraphs.flatMap((p) => p.assetIds)).toContain('rough');
    expect(draft.timeline.find((t) => t.assetIds.includes('rough'))).toMatchObject({ description: null });
  });

  it('the same transcript, not marked rough, is quoted: the mark is what keeps it out', () => {
    const draft = writeExtractiveStory(context([recording('heard', HEARD, false, '1990-05-01')]), { style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: false });
    expect(draft.paragraphs.map((p) => p.text).join(' ')).toContain(`“${HEARD}”`);
  });
});

describe('the openai writer and rough transcripts', () => {
  let fake: FakeOpenAi;
  beforeEach(async () => {
    fake = await startFakeOpenAi();
  });
  afterEach(async () => {
    await fake.close();
  });

  async function prompt(memories: StoryMemory[]): Promise<{ system: string; data: { memories: Record<string, unknown>[] } }> {
    fake.script({ content: JSON.stringify({ title: 'Rose', paragraphs: [{ text: 'Rose spoke of her garden.', assetIds: [memories[0]!.id] }], timeline: [], themes: [] }) });
    const provider = createOpenAiProvider({ baseURL: fake.url, apiKey: 'sk-test', models: { transcribe: 'whisper-1', vision: 'v', story: 'story-model' }, timeoutMs: 10_000, maxRetries: 0 });
    await provider.generateStory!(context(memories), { style: StoryStyle.COMPREHENSIVE, includeTimeline: false, includeThemes: false });
    const body = fake.requests[0]!.body as { messages: { role: string; content: string }[] };
    const user = body.messages.find((m) => m.role === 'user')!.content;
    return { system: body.messages.find((m) => m.role === 'system')!.content, data: JSON.parse(user.slice(user.indexOf('{'))) };
  }

  it('marks the rough transcript and tells the model never to quote it', async () => {
    const { system, data } = await prompt([recording('rough', HEARD, true, '1990-05-01'), recording('whisper', SPOKEN, false, '1962-06-01')]);
    expect(data.memories.map((m) => [m.id, m.transcriptIsRough])).toEqual([
      ['rough', true],
      ['whisper', undefined],
    ]);
    expect(system).toMatch(/"transcriptIsRough": true has a rough transcript.*never quote it/);
  });

  it('says nothing of rough transcripts when there are none', async () => {
    const { system, data } = await prompt([recording('whisper', SPOKEN, false, '1962-06-01')]);
    expect(system).not.toMatch(/rough transcript|transcriptIsRough/);
    expect(data.memories[0]).not.toHaveProperty('transcriptIsRough');
    expect(storyContextJson(context([recording('whisper', SPOKEN, false, '1962-06-01')]))).not.toContain('transcriptIsRough');
  });
});
