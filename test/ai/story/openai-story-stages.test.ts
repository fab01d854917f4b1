import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AiProviderError, type StoryContext, type StoryMemory, type StoryOptions, type StoryStageProgress } from '../../../src/ai/ai.port.js';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { createOpenAiProvider } from '../../../src/ai/openai.provider.js';
import type { CleanedStoryDraft } from '../../../src/ai/openai/story.js';
import { requestTokens } from '../../../src/ai/openai/tokens.js';
import { validateCitations } from '../../../src/domain/story/citations.js';
import { FileType, StoryStyle } from '../../../src/db/enums.js';
import { type FakeOpenAi, type RecordedRequest, startFakeOpenAi } from '../../support/fake-openai.js';

/**
 * The openai writer on a chest larger than the model's context: it is read in stages (notes per
 * period, merged, then the book), every request within AI_STORY_TOKEN_BUDGET, the citations of the
 * book all pointing at memories of the chest. The loopback server answers each stage from what it
 * was sent (fake-openai.ts stagedAnswer), inventing an id at each stage as models do.
 */

let fake: FakeOpenAi;
beforeEach(async () => {
  fake = await startFakeOpenAi();
});
afterEach(async () => {
  await fake.close();
});

const BUDGET = 8_000;
const everything: StoryOptions = { style: StoryStyle.COMPREHENSIVE, includeTimeline: true, includeThemes: true };

const provider = (storyTokenBudget = BUDGET) =>
  createOpenAiProvider({
    baseURL: fake.url,
    apiKey: 'sk-test',
    models: { transcribe: 'whisper-1', vision: 'vision-model', story: 'story-model' },
    timeoutMs: 10_000,
    maxRetries: 0,
    storyTokenBudget,
  });

const uuid = (n: number): string => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const PLACES = ['Whitby', 'Scarborough', 'Leeds', 'the allotment', 'Robin Hood’s Bay'];
const PEOPLE = ['Anna', 'Tom', 'Jack', 'Mary'];

/** A family's memory: letters with their text, captioned photos with people and objects, recordings, contributions. */
function memory(n: number, date: string | null): StoryMemory {
  const base: StoryMemory = {
    id: uuid(n),
    kind: FileType.IMAGE,
    title: `Memory ${n}`,
    date,
    caption: `Rose at ${PLACES[n % PLACES.length]}, memory ${n}.`,
    place: PLACES[n % PLACES.length],
    tags: ['family'],
    people: [PEOPLE[n % PEOPLE.length]!],
    objects: ['boat'],
    transcript: null,
    text: null,
    contributor: null,
    relationship: null,
  };
  if (n % 5 === 0) {
    return { ...base, kind: FileType.DOCUMENT, caption: null, people: undefined, objects: undefined, text: `Dear Rose, ${'the garden is full of roses again and we think of you every day. '.repeat(6)}Love, Anna (letter ${n}).` };
  }
  if (n % 7 === 0) {
    return { ...base, kind: FileType.AUDIO, caption: null, people: undefined, objects: undefined, transcript: `we went down to the harbour ${'and the boats came in '.repeat(5)}`, roughTranscript: n % 2 === 0 };
  }
  if (n % 11 === 0) {
    return { ...base, contributor: 'Margaret', relationship: 'neighbour', contribution: { id: `c-${Math.floor(n / 100)}`, message: 'She brought us soup every winter.' } };
  }
  return base;
}

function chestOf(count: number): StoryContext {
  const memories: StoryMemory[] = [];
  for (let n = 0; n < count; n++) {
    // 1931 to 2020, oldest first; the last tenth undated (the context lists those last).
    const dated = n < count * 0.9;
    const year = 1931 + Math.floor((n / (count * 0.9)) * 90);
    memories.push(memory(n, dated ? `${year}-${String((n % 12) + 1).padStart(2, '0')}-01` : null));
  }
  return { person: { name: 'Rose Martin', birthDate: '1931-03-03', passingDate: '2019-11-20', description: 'Mother, gardener, sailor.' }, memories };
}

const schemaOf = (r: RecordedRequest): string | undefined =>
  (r.body as { response_format?: { json_schema?: { name?: string } } }).response_format?.json_schema?.name;
const userOf = (r: RecordedRequest): string => (r.body as { messages: { role: string; content: string }[] }).messages.find((m) => m.role === 'user')!.content;
const chats = (): RecordedRequest[] => fake.requests.filter((r) => r.path === '/v1/chat/completions');

describe('openai story in stages', () => {
  it('writes a chest of 1,000 memories in stages, every request within the budget, every citation a memory of the chest', async () => {
    const context = chestOf(1_000);
    const ids = new Set(context.memories.map((m) => m.id));
    const seen: string[] = [];
    const stages: StoryStageProgress[] = [];
    const draft = (await provider().generateStory!(context, everything, { onNarrative: (soFar) => seen.push(soFar), onStage: (p) => stages.push(p) })) as CleanedStoryDraft;

    const requests = chats();
    const summaries = requests.filter((r) => schemaOf(r) === 'period_summary');
    const fromMemories = summaries.filter((r) => userOf(r).includes('"memories":['));
    const merges = summaries.filter((r) => userOf(r).includes('"periods":['));
    const books = requests.filter((r) => schemaOf(r) === 'life_story');
    // Several periods read, their notes merged at least once, one book at the end.
    expect(fromMemories.length).toBeGreaterThan(5);
    expect(merges.length).toBeGreaterThan(0);
    expect(books).toHaveLength(1);
    expect(requests.at(-1)).toBe(books[0]);
    // Each request of a stage reported, for the log.
    expect(stages.filter((p) => p.stage === 'periods')).toHaveLength(fromMemories.length);
    expect(stages.filter((p) => p.stage === 'merge')).toHaveLength(merges.length);
    expect(stages.at(-1)).toEqual({ stage: 'book', done: 1, total: 1 });
    // Every memory was read in exactly one period.
    const read = fromMemories.flatMap((r) => (JSON.parse(userOf(r).slice(userOf(r).indexOf('{'))) as { memories: { id: string }[] }).memories.map((m) => m.id));
    expect(read.length).toBe(1_000);
    expect(new Set(read)).toEqual(ids);

    for (const request of requests) {
      const body = request.body as { max_tokens: number };
      expect(body.max_tokens).toBeGreaterThan(0);
      expect(requestTokens(body)).toBeLessThanOrEqual(BUDGET);
    }

    // The book cites only memories of the chest: the ids each stage invented were dropped.
    const cited = [...draft.paragraphs, ...draft.timeline, ...draft.themes].flatMap((c) => c.assetIds);
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.every((id) => ids.has(id))).toBe(true);
    expect(JSON.stringify(books[0]!.body)).not.toContain('invented-by-the-summary');
    expect(JSON.stringify(books[0]!.body)).not.toContain('invented-by-the-merge');
    const { report } = validateCitations(draft, ids);
    expect(report.removedIds).toBe(0);
    // A memory of the first decade is still cited by the book, through every stage.
    const early = new Set(context.memories.filter((m) => m.date && m.date < '1941').map((m) => m.id));
    expect(draft.paragraphs.some((p) => p.assetIds.some((id) => early.has(id)))).toBe(true);

    // The book streamed; the last narrative shown is the book's.
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.at(-1)).toBe(draft.paragraphs.map((p) => p.text).join('\n\n'));
  });

  it('writes a small chest in one request, carrying people, objects, letters, transcripts and contributions', async () => {
    const context = chestOf(40);
    const draft = await provider().generateStory!(context, everything);
    const requests = chats();
    expect(requests).toHaveLength(1);
    expect(schemaOf(requests[0]!)).toBe('life_story');
    expect(requestTokens(requests[0]!.body as { max_tokens: number })).toBeLessThanOrEqual(BUDGET);
    expect(draft.paragraphs.length).toBeGreaterThan(0);

    const user = userOf(requests[0]!);
    const system = (requests[0]!.body as { messages: { role: string; content: string }[] }).messages[0]!.content;
    const data = JSON.parse(user.slice(user.indexOf('{'))) as { memories: Record<string, unknown>[] };
    const byId = new Map(data.memories.map((m) => [m['id'], m]));
    expect(byId.get(uuid(1))).toMatchObject({ people: ['Tom'], objects: ['boat'], place: 'Scarborough' });
    expect(byId.get(uuid(5))!['text']).toMatch(/^Dear Rose, the garden is full of roses/);
    expect(byId.get(uuid(14))).toMatchObject({ transcriptIsRough: true });
    expect(byId.get(uuid(7))!['transcriptIsRough']).toBeUndefined();
    expect(system).toMatch(/never quote it/);
    // One contribution of two memories: both say who sent them, its message is given once.
    expect(byId.get(uuid(11))).toMatchObject({ from: 'Margaret (neighbour)', message: 'She brought us soup every winter.' });
    expect(byId.get(uuid(22))).toMatchObject({ from: 'Margaret (neighbour)' });
    expect(byId.get(uuid(22))!['message']).toBeUndefined();
  });

  it('a period\'s request marks the machine\'s captions, the copies and what came after the passing, and its rules say what they mean', async () => {
    const context = chestOf(1_000);
    const at = (n: number) => context.memories[n]!;
    context.memories[1] = { ...at(1), duplicateGroup: at(1).id };
    context.memories[2] = { ...at(2), duplicateGroup: at(1).id };
    context.memories[3] = { ...at(3), caption: 'People on a boat, June 1931.', machineCaption: true };
    context.memories[890] = { ...at(890), afterPassing: true };
    await provider().generateStory!(context, everything);
    const periods = chats().filter((r) => schemaOf(r) === 'period_summary' && userOf(r).includes('"memories":['));
    const reading = (id: string) => {
      const request = periods.find((r) => userOf(r).includes(`"id":"${id}"`))!;
      const user = userOf(request);
      const memories = (JSON.parse(user.slice(user.indexOf('{'))) as { memories: Record<string, unknown>[] }).memories;
      const system = (request.body as { messages: { role: string; content: string }[] }).messages[0]!.content;
      return { memory: memories.find((m) => m['id'] === id)!, system };
    };
    const copy = reading(at(2).id);
    expect(copy.memory).toMatchObject({ copyOf: at(1).id });
    expect(copy.system).toContain('"copyOf" are copies of the memory with that id');
    expect(reading(at(1).id).memory['copyOf']).toBeUndefined();
    const machine = reading(at(3).id);
    expect(machine.memory).toMatchObject({ caption: 'People on a boat, June 1931.', captionByMachine: true });
    expect(machine.system).toContain('"captionByMachine": true has a caption a machine composed');
    const after = reading(at(890).id);
    expect(after.memory).toMatchObject({ afterPassing: true });
    expect(after.system).toContain('"afterPassing": true are dated after the person died');
    // A period without such memories is not told about them.
    const plain = periods.find((r) => !/copyOf|captionByMachine|afterPassing/.test(userOf(r)))!;
    expect((plain.body as { messages: { content: string }[] }).messages[0]!.content).not.toMatch(/copyOf|captionByMachine|afterPassing/);
  });

  it('reads a period whose notes the model cannot fit in one answer in halves', async () => {
    const context = chestOf(1_000);
    // The first period's answer is cut at max_tokens, as a server does.
    fake.script({ content: '{"notes":[{"text":"In 1931: Rose at Whitby', finishReason: 'length' });
    const draft = await provider().generateStory!(context, everything);
    const readFirst = chats()
      .filter((r) => schemaOf(r) === 'period_summary' && userOf(r).includes('"memories":['))
      .slice(0, 3)
      .map((r) => (JSON.parse(userOf(r).slice(userOf(r).indexOf('{'))) as { memories: { id: string }[] }).memories.map((m) => m.id));
    // The cut period, then its two halves, which together are it.
    expect(readFirst[1]!.length + readFirst[2]!.length).toBe(readFirst[0]!.length);
    expect([...readFirst[1]!, ...readFirst[2]!]).toEqual(readFirst[0]);
    expect(draft.paragraphs.length).toBeGreaterThan(0);
  });

  it('thins the notes to fit the book when the model will not shorten them', async () => {
    const context = chestOf(1_000);
    const ids = new Set(context.memories.map((m) => m.id));
    // Merging gives back every note it was given: no round gets shorter.
    fake.rewrite = (schema, content, user) => {
      if (schema !== 'period_summary' || !user.includes('"periods":[')) return content;
      const data = JSON.parse(user.slice(user.indexOf('{'))) as { periods: { notes: unknown[] }[] };
      return JSON.stringify({ notes: data.periods.flatMap((p) => p.notes) });
    };
    const draft = await provider().generateStory!(context, everything);
    const requests = chats();
    const book = requests.at(-1)!;
    expect(schemaOf(book)).toBe('life_story');
    for (const request of requests) expect(requestTokens(request.body as { max_tokens: number })).toBeLessThanOrEqual(BUDGET);
    const cited = draft.paragraphs.flatMap((p) => p.assetIds);
    expect(cited.length).toBeGreaterThan(0);
    expect(cited.every((id) => ids.has(id))).toBe(true);
    // Thinning takes notes from the end of the longest periods: the oldest period still speaks.
    const early = new Set(context.memories.filter((m) => m.date && m.date < '1941').map((m) => m.id));
    expect(cited.some((id) => early.has(id))).toBe(true);
  });

  it('takes AI_STORY_TOKEN_BUDGET from the environment, at least 4000 tokens', () => {
    expect(loadConfig({}).ai.openai.storyTokenBudget).toBe(32_000);
    expect(loadConfig({ AI_STORY_TOKEN_BUDGET: '128000' }).ai.openai.storyTokenBudget).toBe(128_000);
    expect(() => loadConfig({ AI_STORY_TOKEN_BUDGET: '1000' })).toThrow(ConfigError);
  });

  it('throws a retryable failure of any stage for the queue to retry', async () => {
    fake.script({}, {}, { status: 503 });
    const error = await provider()
      .generateStory!(chestOf(1_000), everything)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AiProviderError);
    expect((error as AiProviderError).retryable).toBe(true);
    expect(chats()).toHaveLength(3);
  });

  it('refuses, before sending anything, a memory too large for any request of the budget', async () => {
    const huge: StoryContext = {
      person: { name: 'Rose Martin', birthDate: null, passingDate: null, description: null },
      memories: [{ ...memory(1, '1962-06-01'), caption: 'A very long caption. '.repeat(2_000) }],
    };
    const error = await provider(4_000)
      .generateStory!(huge, everything)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AiProviderError);
    expect((error as AiProviderError).retryable).toBe(false);
    expect((error as Error).message).toMatch(/AI_STORY_TOKEN_BUDGET/);
    expect(chats()).toHaveLength(0);
  });
});
