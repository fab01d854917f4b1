import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoryContext, StoryOptions } from '../../../src/ai/ai.port.js';
import { createOpenAiProvider } from '../../../src/ai/openai.provider.js';
import type { CleanedStoryDraft } from '../../../src/ai/openai/story.js';
import { validateCitations } from '../../../src/domain/story/citations.js';
import { FileType, StoryStyle } from '../../../src/db/enums.js';
import { type FakeOpenAi, startFakeOpenAi } from '../../support/fake-openai.js';

/**
 * The openai story writer against an OpenAI-compatible server on loopback: what it cleans out of
 * the model's answer is counted, so nothing the model claimed disappears uncounted.
 */

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi();
});
afterEach(async () => {
  await fake.close();
});

const context: StoryContext = {
  person: { name: 'Rose Martin', birthDate: null, passingDate: null, description: null },
  memories: [
    { id: 'm1', kind: FileType.IMAGE, title: 'Pier', date: '1962-06-01', caption: 'Rose on the pier.', place: 'Whitby', tags: [], transcript: null, text: null, contributor: null, relationship: null },
    { id: 'm2', kind: FileType.AUDIO, title: 'Grandma speaks', date: null, caption: null, tags: [], transcript: 'We planted roses.', text: null, contributor: null, relationship: null },
  ],
};
const everything: StoryOptions = { style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true };

/** Ten claims: three usable, four the provider cleans out, three left citing nothing but unknown ids. */
const ANSWER = {
  title: 'The life of Rose Martin',
  paragraphs: [
    { text: 'Rose walked on the pier at Whitby.', assetIds: ['m1', 'm1'] },
    { text: '   ', assetIds: ['m1'] },
    { text: 'She sailed to America.', assetIds: ['made-up'] },
  ],
  timeline: [
    { date: '1962-06', title: 'The pier', description: null, assetIds: ['m1'] },
    { date: 'one summer', title: 'Undated', description: null, assetIds: ['m1'] },
    { date: '1970', title: '  ', description: 'No title', assetIds: ['m2'] },
    { date: '1975', title: 'A voyage', description: null, assetIds: ['made-up'] },
  ],
  themes: [
    { name: 'Gardening', description: 'Roses.', assetIds: ['m1', 'm2', 'made-up'] },
    { name: ' ', description: null, assetIds: ['m2'] },
    { name: 'The sea', description: null, assetIds: ['other-chest'] },
  ],
};

const provider = () =>
  createOpenAiProvider({
    baseURL: fake.url,
    apiKey: 'sk-test',
    models: { transcribe: 'whisper-1', vision: 'vision-model', story: 'story-model' },
    timeoutMs: 10_000,
    maxRetries: 0,
  });

async function write(options: StoryOptions = everything): Promise<CleanedStoryDraft> {
  fake.script({ content: JSON.stringify(ANSWER) });
  return (await provider().generateStory!(context, options)) as CleanedStoryDraft;
}

describe('openai story: counting what is cleaned', () => {
  it('counts the paragraphs, entries and themes it drops itself', async () => {
    const draft = await write();
    // An empty paragraph, an entry with no usable date, one with no title, a theme with no name.
    expect(draft.droppedClaims).toBe(4);
    expect(draft.paragraphs.map((p) => p.text)).toEqual(['Rose walked on the pier at Whitby.', 'She sailed to America.']);
    expect(draft.timeline.map((t) => t.title)).toEqual(['The pier', 'A voyage']);
    expect(draft.themes.map((t) => t.name)).toEqual(['Gardening', 'The sea']);
  });

  it('leaves claims citing only unknown ids for validateCitations, so together every dropped claim counts once', async () => {
    const draft = await write();
    const { draft: cited, report } = validateCitations(draft, new Set(context.memories.map((m) => m.id)));
    expect(report).toMatchObject({ droppedParagraphs: 1, droppedTimelineEntries: 1, droppedThemes: 1 });
    const dropped = draft.droppedClaims + report.droppedParagraphs + report.droppedTimelineEntries + report.droppedThemes;
    const claims = ANSWER.paragraphs.length + ANSWER.timeline.length + ANSWER.themes.length;
    const kept = cited.paragraphs.length + cited.timeline.length + cited.themes.length;
    expect(kept).toBe(3);
    expect(dropped).toBe(claims - kept);
    expect(cited.paragraphs).toEqual([{ text: 'Rose walked on the pier at Whitby.', assetIds: ['m1'] }]);
    expect(cited.themes).toEqual([{ name: 'Gardening', description: 'Roses.', assetIds: ['m1', 'm2'] }]);
  });

  it('does not count a timeline or themes that were not asked for', async () => {
    const draft = await write({ ...everything, includeTimeline: false, includeThemes: false });
    expect(draft.timeline).toEqual([]);
    expect(draft.themes).toEqual([]);
    expect(draft.droppedClaims).toBe(1);
  });

  it('a clean answer drops nothing', async () => {
    fake.script({
      content: JSON.stringify({ title: 'Rose', paragraphs: [{ text: 'Rose at Whitby.', assetIds: ['m1'] }], timeline: [], themes: [] }),
    });
    const draft = (await provider().generateStory!(context, everything)) as CleanedStoryDraft;
    expect(draft.droppedClaims).toBe(0);
  });

  it('gives the model each memory’s place in words, and says how to use it', async () => {
    await write();
    const body = fake.requests[0]!.body as { messages: { role: string; content: string }[] };
    const user = body.messages.find((m) => m.role === 'user')!.content;
    const system = body.messages.find((m) => m.role === 'system')!.content;
    const data = JSON.parse(user.slice(user.indexOf('{'))) as { memories: { id: string; place?: string }[] };
    expect(data.memories.map((m) => [m.id, m.place])).toEqual([
      ['m1', 'Whitby'],
      ['m2', undefined],
    ]);
    expect(system).toMatch(/place is where it was made, in the family's words/);
  });

  it('tells the model which caption a machine wrote, which memories are copies and which came after the passing', async () => {
    const base = { kind: FileType.IMAGE, title: 'Photo', tags: [] as string[], transcript: null, text: null, contributor: null, relationship: null };
    const marked: StoryContext = {
      person: { name: 'Rose Martin', birthDate: '1931-03-03', passingDate: '2019-11-20', description: null },
      memories: [
        { ...base, id: 'lead', date: '1968-08-20', caption: 'Rose and Tom on their wedding day', duplicateGroup: 'lead' },
        { ...base, id: 'copy', date: '1968-08-20', caption: null, duplicateGroup: 'lead' },
        { ...base, id: 'machine', date: '1988-08-06', caption: 'People with a wine glass, August 1988.', machineCaption: true },
        { ...base, id: 'after', date: '2020-03-03', caption: 'Together at the harbour', afterPassing: true },
      ],
    };
    fake.script({ content: JSON.stringify({ title: 'Rose', paragraphs: [{ text: 'Rose married Tom.', assetIds: ['lead'] }], timeline: [], themes: [] }) });
    await provider().generateStory!(marked, everything);
    const body = fake.requests[0]!.body as { messages: { role: string; content: string }[] };
    const user = body.messages.find((m) => m.role === 'user')!.content;
    const system = body.messages.find((m) => m.role === 'system')!.content;
    const byId = new Map((JSON.parse(user.slice(user.indexOf('{'))) as { memories: Record<string, unknown>[] }).memories.map((m) => [m['id'], m]));
    // The copy points at the memory it copies; the one it copies is no copy.
    expect(byId.get('copy')).toMatchObject({ copyOf: 'lead' });
    expect(byId.get('lead')!['copyOf']).toBeUndefined();
    expect(byId.get('machine')).toMatchObject({ caption: 'People with a wine glass, August 1988.', captionByMachine: true });
    expect(byId.get('lead')!['captionByMachine']).toBeUndefined();
    expect(byId.get('after')).toMatchObject({ afterPassing: true });
    expect(byId.get('machine')!['afterPassing']).toBeUndefined();
    // And the rules say what the marks mean.
    expect(system).toContain('"copyOf" are copies of the memory with that id: count the picture once');
    expect(system).toContain('"captionByMachine": true has a caption a machine composed');
    expect(system).toContain('"afterPassing": true are dated after the person died');
  });

  it('leaves those rules out when no memory is marked', async () => {
    await write();
    const system = (fake.requests[0]!.body as { messages: { role: string; content: string }[] }).messages.find((m) => m.role === 'system')!.content;
    expect(system).not.toMatch(/copyOf|captionByMachine|afterPassing/);
  });
});
