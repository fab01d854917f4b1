import type OpenAI from 'openai';
import type { z } from 'zod';
import { StoryStyle } from '../../db/enums.js';
import { AiProviderError } from '../ai.port.js';
import type { StoryContext, StoryDraft, StoryMemory, StoryOptions, StoryStreamOptions } from '../ai.port.js';
import type { OpenAiSettings } from '../openai.provider.js';
import { PartialJsonStrings } from '../partial-json.js';
import { toProviderError } from './errors.js';
import { PROVIDER } from './provider-name.js';
import { jsonSchemaFormat, parseJson, STORY_SCHEMA, StoryOutput } from './output.js';

/** The story prompt's data (person + memories as JSON) stays under this many characters. */
export const STORY_CONTEXT_BUDGET = 60_000;
/** No single transcript or text excerpt is longer than this, whatever the budget. */
const MAX_EXCERPT = 8_000;
/** An excerpt cut shorter than this says too little to keep. */
const MIN_EXCERPT = 200;

// ---------------------------------------------------------------------------------------------
// Stories

const STYLES: Record<StoryStyle, string> = {
  [StoryStyle.COMPREHENSIVE]: 'Comprehensive: a thorough life story in several paragraphs, covering every period and side of the person the memories show.',
  [StoryStyle.BRIEF]: 'Brief: 2 to 3 paragraphs with the essentials.',
  [StoryStyle.FOR_CHILDREN]: 'For children: simple, warm, short sentences a young child can follow; gentle about death.',
  [StoryStyle.EULOGY]: 'Eulogy: to be read aloud at a memorial service; warm, dignified and easy to speak, addressed to the people gathered.',
};

function storySystemPrompt(options: StoryOptions, context: StoryContext): string {
  return [
    "You write the story of a person's life for their family, from the memories the family collected: photos, videos, recordings and documents, given as JSON.",
    'Rules:',
    '- Use only facts found in the person and the memories. Never invent names, dates, places, events, feelings or quotes. If the memories say little, write little.',
    ...(context.memories.some((m) => m.roughTranscript && m.transcript)
      ? [
          '- A memory with "transcriptIsRough": true has a rough transcript, heard by a simple offline speech recogniser: many of its words are wrong. Use it only for what the recording is broadly about; never quote it, and never present its words as what anyone said.',
        ]
      : []),
    '- Every paragraph, timeline entry and theme cites in assetIds the ids of the memories it draws on, and only ids given in the memories.',
    "- A memory's place is where it was made, in the family's words; name a place only as a memory gives it.",
    '- Paragraph text is plain prose: no markdown, no headings, no ids.',
    '- Write in the language most of the memories are in.',
    `- Style. ${STYLES[options.style]}`,
    options.includeTimeline
      ? '- timeline: the dated events the memories show, oldest first; date as YYYY, YYYY-MM or YYYY-MM-DD, only as precise as the memories are.'
      : '- timeline: return an empty array.',
    options.includeThemes
      ? '- themes: the threads that run through the life (a place, a passion, a bond), each with a short description.'
      : '- themes: return an empty array.',
    'Answer with JSON only.',
  ].join('\n');
}

/** The person and memories as compact JSON, transcripts and texts cut so the whole fits the budget. */
export function storyContextJson(context: StoryContext, budget: number = STORY_CONTEXT_BUDGET): string {
  const { person } = context;
  const head = { name: person.name, born: person.birthDate ?? undefined, died: person.passingDate ?? undefined, about: person.description ?? undefined };
  const render = (cap: number): string =>
    JSON.stringify({ person: head, memories: context.memories.map((m) => memoryJson(m, cap)) });

  const full = render(MAX_EXCERPT);
  if (full.length <= budget) return full;
  // Water-fill: the longest excerpts are cut first, to a common cap; shorter ones stay whole.
  const lengths = context.memories
    .flatMap((m) => [m.transcript, m.text])
    .filter((t): t is string => t !== null)
    .map((t) => Math.min(squash(t).length, MAX_EXCERPT));
  let cap = waterLevel(lengths, budget - render(0).length);
  let json = render(cap);
  // Escapes and ellipses make the estimate a little short; tighten until it fits (or nothing is left to cut).
  while (json.length > budget && cap >= MIN_EXCERPT) {
    cap = Math.floor(cap * 0.9);
    json = render(cap);
  }
  return json;
}

/** The largest cap such that the capped lengths sum to at most `room`. */
function waterLevel(lengths: number[], room: number): number {
  const sorted = [...lengths].sort((a, b) => a - b);
  let left = Math.max(0, room);
  for (let i = 0; i < sorted.length; i++) {
    const share = left / (sorted.length - i);
    const length = sorted[i] ?? 0;
    if (length > share) return Math.floor(share);
    left -= length;
  }
  return MAX_EXCERPT;
}

function memoryJson(m: StoryMemory, cap: number): Record<string, unknown> {
  const from = m.contributor ? (m.relationship ? `${m.contributor} (${m.relationship})` : m.contributor) : undefined;
  return {
    id: m.id,
    date: m.date ?? undefined,
    kind: m.kind,
    title: m.title,
    caption: m.caption ?? undefined,
    place: m.place ?? undefined,
    people: m.people?.length ? m.people : undefined,
    tags: m.tags.length > 0 ? m.tags : undefined,
    transcript: excerpt(m.transcript, cap),
    transcriptIsRough: m.roughTranscript && m.transcript ? true : undefined,
    text: excerpt(m.text, cap),
    from,
  };
}

const squash = (text: string): string => text.replace(/\s+/g, ' ').trim();

/** At most `cap` characters, cut at a word where possible; undefined when too little would be left. */
function excerpt(text: string | null, cap: number): string | undefined {
  if (text === null) return undefined;
  const flat = squash(text);
  if (flat.length <= cap) return flat || undefined;
  if (cap < MIN_EXCERPT) return undefined;
  const cut = flat.slice(0, cap - 1);
  const space = cut.lastIndexOf(' ');
  return `${space > cap * 0.8 ? cut.slice(0, space) : cut}…`;
}

const narrativeOf = (texts: string[]): string =>
  texts
    .map((t) => t.trim())
    .filter((t) => t.length > 0)
    .join('\n\n');

/**
 * A draft as this provider hands it over: what it cleaned out of the model's answer already is
 * counted here, since validateCitations never sees it (see cleanStory).
 */
export interface CleanedStoryDraft extends StoryDraft {
  /** Paragraphs, timeline entries and themes of the model's answer that were dropped as unusable. */
  droppedClaims: number;
}

export async function generateStory(
  client: OpenAI,
  settings: OpenAiSettings,
  context: StoryContext,
  options: StoryOptions,
  stream: StoryStreamOptions | undefined,
): Promise<CleanedStoryDraft> {
  const model = settings.models.story;
  const signal = stream?.signal;
  // The SDK's timeout ends when the headers arrive; a stream that goes quiet is caught here.
  const silence = new AbortController();
  const requestSignal = signal ? AbortSignal.any([signal, silence.signal]) : silence.signal;
  let timer: NodeJS.Timeout | undefined;
  const rearm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => silence.abort(), settings.timeoutMs);
  };
  const timedOut = (): AiProviderError => new AiProviderError('The AI service did not answer in time', true);

  try {
    const chunks = await client.chat.completions.create(
      {
        model,
        stream: true,
        messages: [
          { role: 'system', content: storySystemPrompt(options, context) },
          { role: 'user', content: `The person and the memories:\n${storyContextJson(context)}` },
        ],
        response_format: jsonSchemaFormat('life_story', STORY_SCHEMA),
      },
      { signal: requestSignal },
    );
    rearm();
    const texts = new PartialJsonStrings(['paragraphs', '*', 'text']);
    let content = '';
    let reportedModel = model;
    let finish: string | null = null;
    let shown = '';
    const show = (narrative: string): void => {
      if (narrative === shown) return;
      shown = narrative;
      stream?.onNarrative?.(narrative);
    };
    for await (const chunk of chunks) {
      rearm();
      if (chunk.model) reportedModel = chunk.model;
      const choice = chunk.choices[0];
      const delta = choice?.delta?.content;
      if (delta) {
        content += delta;
        texts.push(delta);
        show(narrativeOf(texts.values()));
      }
      if (choice?.finish_reason) finish = choice.finish_reason;
    }
    // An aborted stream ends the loop quietly in the SDK instead of throwing.
    signal?.throwIfAborted();
    if (silence.signal.aborted) throw timedOut();

    const parsed = parseJson(content, StoryOutput);
    if (!parsed) {
      if (finish === null) throw new AiProviderError('The AI service stopped before the story was finished', true);
      if (finish === 'length') throw new AiProviderError('The story was longer than the model can write in one answer', false);
      throw new AiProviderError('The story model returned malformed output', false);
    }
    const draft = cleanStory(parsed, context, options, reportedModel);
    show(narrativeOf(draft.paragraphs.map((p) => p.text)));
    return draft;
  } catch (error) {
    signal?.throwIfAborted();
    if (silence.signal.aborted) throw timedOut();
    throw toProviderError(error, model);
  } finally {
    clearTimeout(timer);
  }
}

const STORY_DATE = /^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$/;

/**
 * Trims, drops empty parts and entries with unusable dates, and keeps only citations of memories
 * that exist. Entries left citing nothing stay for validateCitations, which drops and counts them;
 * what is dropped here is counted in `droppedClaims`. Timeline and themes that were not asked
 * for are no claims of the story and are not counted.
 */
export function cleanStory(raw: z.infer<typeof StoryOutput>, context: StoryContext, options: StoryOptions, model: string): CleanedStoryDraft {
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
