import type OpenAI from 'openai';
import type { z } from 'zod';
import { AiProviderError } from '../ai.port.js';
import type { StoryContext, StoryDraft, StoryOptions, StoryStreamOptions } from '../ai.port.js';
import type { OpenAiSettings } from '../openai.provider.js';
import { PartialJsonStrings } from '../partial-json.js';
import { toProviderError } from './errors.js';
import { type JsonSchema, jsonSchemaFormat, parseJson, STORY_SCHEMA, StoryOutput, SUMMARY_SCHEMA, SummaryOutput } from './output.js';
import { PROVIDER } from './provider-name.js';
import { AnswerCutShort, IDS_PER_NOTE, notesByPeriod, type PeriodNotes } from './story-stages.js';
import { bookFromNotesSystemPrompt, bookSystemPrompt, fitContextJson, personJson, summarySystemPrompt } from './story-prompt.js';
import { requestTokens } from './tokens.js';

export { storyContextJson } from './story-prompt.js';

/**
 * A draft as this provider hands it over: what it cleaned out of the model's answer already is
 * counted here, since validateCitations never sees it (see cleanStory).
 */
export interface CleanedStoryDraft extends StoryDraft {
  /** Paragraphs, timeline entries and themes of the model's answer that were dropped as unusable. */
  droppedClaims: number;
}

/** AI_STORY_TOKEN_BUDGET's default: most tokens one story request takes, prompt and answer together. */
export const DEFAULT_STORY_TOKEN_BUDGET = 32_000;
/**
 * Transcript and text excerpts in staged writing; and the shortest the one-request book cuts them
 * to before it gives way to stages (a larger chest is better read in periods than cut to nothing).
 */
const STAGE_EXCERPT = 1_500;

interface ChatBody {
  model: string;
  stream: true;
  max_tokens: number;
  messages: { role: 'system' | 'user'; content: string }[];
  response_format: ReturnType<typeof jsonSchemaFormat>;
}

/** What the model answered, as text, with the model the server says it used and why it stopped. */
interface Answer {
  content: string;
  model: string;
  finish: string | null;
}

type Ask = (body: ChatBody, onContent?: (delta: string) => void) => Promise<Answer>;

const clamp = (value: number, low: number, high: number): number => Math.min(high, Math.max(low, value));

/** What generateStory is asked to write, and with what. */
export interface StoryRequest {
  /** The OpenAI-compatible client the provider holds. */
  client: OpenAI;
  /** Models, timeout and the token budget (AI_STORY_TOKEN_BUDGET). */
  settings: OpenAiSettings;
  /** The person and the memories, already scrubbed of hidden names. */
  context: StoryContext;
  /** Style and whether to write a timeline and themes. */
  options: StoryOptions;
  /** Where the narrative and the stages' progress go as they are written, and the job's abort signal. */
  stream?: StoryStreamOptions;
}

/**
 * Writes the story. A chest whose memories fit one request (excerpts at least STAGE_EXCERPT long)
 * is written in one, as it streams. A larger one is read in stages (story-stages.ts): notes per
 * period citing the memories, merged until they fit, then the book from the notes, streamed.
 * Every request, whatever the stage, stays within the token budget, answer included; a retryable
 * failure at any stage is thrown for the queue to retry the story.
 */
export async function generateStory(request: StoryRequest): Promise<CleanedStoryDraft> {
  const { client, settings, context, options, stream } = request;
  const model = settings.models.story;
  const budget = settings.storyTokenBudget ?? DEFAULT_STORY_TOKEN_BUDGET;
  // The answer's room is part of the budget: a book needs more than a period's notes.
  const bookAnswer = clamp(Math.floor(budget / 4), 512, 4096);
  const noteAnswer = clamp(Math.floor(budget / 5), 256, 4096);
  const body = (input: { system: string; user: string; name: string; schema: JsonSchema; maxTokens: number }): ChatBody => ({
    model,
    stream: true,
    max_tokens: input.maxTokens,
    messages: [
      { role: 'system', content: input.system },
      { role: 'user', content: input.user },
    ],
    response_format: jsonSchemaFormat(input.name, input.schema),
  });
  const bookBody = (system: string, user: string): ChatBody => body({ system, user, name: 'life_story', schema: STORY_SCHEMA, maxTokens: bookAnswer });
  const summaryBody = (system: string, user: string): ChatBody => body({ system, user, name: 'period_summary', schema: SUMMARY_SCHEMA, maxTokens: noteAnswer });
  const ask = asker({ client, settings, budget, signal: stream?.signal });

  const oneRequest = bookSystemPrompt(options, context);
  const memoriesUser = (json: string): string => `The person and the memories:\n${json}`;
  const single = fitContextJson(context, (json) => requestTokens(bookBody(oneRequest, memoriesUser(json))) <= budget, STAGE_EXCERPT);
  if (single !== null) return writeBook({ ask, body: bookBody(oneRequest, memoriesUser(single)), context, options, stream });

  const fromNotes = bookFromNotesSystemPrompt(options);
  const notesUser = (periods: PeriodNotes[]): string =>
    `The person, and the notes on their life by period:\n${JSON.stringify({ person: personJson(context.person), periods })}`;
  const summaryRoom = (system: string, user: string): number => budget - requestTokens(summaryBody(system, user));
  // A long letter gets a share of a period's request, not all of it.
  const emptyRoom = summaryRoom(summarySystemPrompt({ memories: context.memories, fromNotes: false, maxNotes: 99, maxIds: IDS_PER_NOTE }), JSON.stringify(personJson(context.person)));
  const periods = await notesByPeriod({
    context,
    summaryRoom,
    bookFits: (candidate) => requestTokens(bookBody(fromNotes, notesUser(candidate))) <= budget,
    noteAnswerTokens: noteAnswer,
    excerpt: Math.min(STAGE_EXCERPT, Math.floor((emptyRoom * 3.5) / 4)),
    onStage: stream?.onStage,
    summarise: async ({ system, user }) => {
      const answer = await ask(summaryBody(system, user));
      return parsed(answer, SummaryOutput, 'The notes on a period').notes;
    },
  });
  if (periods.length === 0) throw new AiProviderError('The story model wrote no usable notes on any period of the memories', false);
  const book = await writeBook({ ask, body: bookBody(fromNotes, notesUser(periods)), context, options, stream });
  stream?.onStage?.({ stage: 'book', done: 1, total: 1 });
  return book;
}

/** The book's request, streamed: the narrative is shown as it grows, then cleaned. */
async function writeBook(input: { ask: Ask; body: ChatBody; context: StoryContext; options: StoryOptions; stream: StoryStreamOptions | undefined }): Promise<CleanedStoryDraft> {
  const texts = new PartialJsonStrings(['paragraphs', '*', 'text']);
  let shown = '';
  const show = (narrative: string): void => {
    if (narrative === shown) return;
    shown = narrative;
    input.stream?.onNarrative?.(narrative);
  };
  const answer = await input.ask(input.body, (delta) => {
    texts.push(delta);
    show(joinTexts(texts.values()));
  });
  const draft = cleanStory({ raw: parsed(answer, StoryOutput, 'The story'), context: input.context, options: input.options, model: answer.model });
  show(joinTexts(draft.paragraphs.map((p) => p.text)));
  return draft;
}

const joinTexts = (texts: string[]): string =>
  texts
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .join('\n\n');

function parsed<T>(answer: Answer, schema: z.ZodType<T>, what: string): T {
  const value = parseJson(answer.content, schema);
  if (value) return value;
  if (answer.finish === null) throw new AiProviderError(`The AI service stopped before ${what.toLowerCase()} was finished`, true);
  if (answer.finish === 'length') throw new AnswerCutShort(`${what} was longer than the model can write in one answer`);
  throw new AiProviderError('The story model returned malformed output', false);
}

/**
 * One streamed chat request. Refuses a request above the budget (estimated as the server would
 * count it, answer included) before anything is sent. The SDK's timeout ends when the headers
 * arrive; a stream that goes quiet for timeoutMs is caught here.
 */
interface AskerInput {
  client: OpenAI;
  /** Its timeoutMs: how long the stream may go quiet. */
  settings: OpenAiSettings;
  /** Most tokens one request may take, prompt and answer together. */
  budget: number;
  /** The job's: aborts the request in flight. */
  signal: AbortSignal | undefined;
}

function asker({ client, settings, budget, signal }: AskerInput): Ask {
  return async (body, onContent) => {
    signal?.throwIfAborted();
    if (requestTokens(body) > budget) {
      throw new AiProviderError(`The story request would need more than AI_STORY_TOKEN_BUDGET (${budget} tokens); raise it for this model`, false);
    }
    const silence = new AbortController();
    const requestSignal = signal ? AbortSignal.any([signal, silence.signal]) : silence.signal;
    let timer: NodeJS.Timeout | undefined;
    const rearm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => silence.abort(), settings.timeoutMs);
    };
    const timedOut = (): AiProviderError => new AiProviderError('The AI service did not answer in time', true);
    try {
      const chunks = await client.chat.completions.create(body, { signal: requestSignal });
      rearm();
      const answer: Answer = { content: '', model: body.model, finish: null };
      for await (const chunk of chunks) {
        rearm();
        if (chunk.model) answer.model = chunk.model;
        const choice = chunk.choices[0];
        const delta = choice?.delta?.content;
        if (delta) {
          answer.content += delta;
          onContent?.(delta);
        }
        if (choice?.finish_reason) answer.finish = choice.finish_reason;
      }
      // An aborted stream ends the loop quietly in the SDK instead of throwing.
      signal?.throwIfAborted();
      if (silence.signal.aborted) throw timedOut();
      return answer;
    } catch (error) {
      signal?.throwIfAborted();
      if (silence.signal.aborted) throw timedOut();
      throw toProviderError(error, body.model);
    } finally {
      clearTimeout(timer);
    }
  };
}

export interface CleanStoryInput {
  /** The model's answer, parsed against the story schema. */
  raw: z.infer<typeof StoryOutput>;
  /** The memories it may cite. */
  context: StoryContext;
  /** Whether a timeline and themes were asked for. */
  options: StoryOptions;
  /** The model the server says wrote it. */
  model: string;
}

const STORY_DATE = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$/;

/**
 * Trims, drops empty parts and entries with unusable dates, and keeps only citations of memories
 * that exist. Entries left citing nothing stay for validateCitations, which drops and counts them;
 * what is dropped here is counted in `droppedClaims`. Timeline and themes that were not asked
 * for are no claims of the story and are not counted.
 */
export function cleanStory({ raw, context, options, model }: CleanStoryInput): CleanedStoryDraft {
  const known = new Set(context.memories.map((m) => m.id));
  const cite = (assetIds: string[]): string[] => [...new Set(assetIds)].filter((id) => known.has(id));
  let dropped = 0;
  const keep = <T>(items: T[], usable: (item: T) => boolean): T[] => {
    const kept = items.filter(usable);
    dropped += items.length - kept.length;
    return kept;
  };
  const paragraphs = keep(
    raw.paragraphs.map((p) => ({ text: p.text.trim(), assetIds: cite(p.assetIds) })),
    (p) => p.text.length > 0,
  );
  if (paragraphs.length === 0) throw new AiProviderError('The story model returned malformed output', false);
  const description = (d: string | null | undefined): string | null => d?.trim() || null;
  const timeline = options.includeTimeline
    ? keep(
        raw.timeline.map((t) => ({ date: t.date.trim(), title: t.title.trim(), description: description(t.description), assetIds: cite(t.assetIds) })),
        (t) => STORY_DATE.test(t.date) && t.title.length > 0,
      )
    : [];
  const themes = options.includeThemes
    ? keep(
        raw.themes.map((t) => ({ name: t.name.trim(), description: description(t.description), assetIds: cite(t.assetIds) })),
        (t) => t.name.length > 0,
      )
    : [];
  return { provider: PROVIDER, model, title: raw.title.trim() || context.person.name, paragraphs, timeline, themes, droppedClaims: dropped };
}
