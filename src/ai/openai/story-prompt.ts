import { StoryStyle } from '../../db/enums.js';
import type { StoryContext, StoryMemory, StoryOptions } from '../ai.port.js';

/**
 * What the story model reads: the person and the memories as compact JSON, and the rules for the
 * one-request book, the period summaries and the book written from those summaries
 * (story-stages.ts). Never coordinates, filenames or storage keys: StoryMemory has none.
 */

/** No single transcript or text excerpt is longer than this, whatever the budget. */
export const MAX_EXCERPT = 8_000;
/** An excerpt cut shorter than this says too little to keep. */
export const MIN_EXCERPT = 200;

const STYLES: Record<StoryStyle, string> = {
  [StoryStyle.COMPREHENSIVE]: 'Comprehensive: a thorough life story in several paragraphs, covering every period and side of the person the memories show.',
  [StoryStyle.BRIEF]: 'Brief: 2 to 3 paragraphs with the essentials.',
  [StoryStyle.FOR_CHILDREN]: 'For children: simple, warm, short sentences a young child can follow; gentle about death; no dates more precise than years.',
  [StoryStyle.EULOGY]: 'Eulogy: to be read aloud at a memorial service, about three minutes spoken; warm, dignified and easy to speak, addressed to the people gathered.',
};

/** What the memories' fields mean, for every prompt that shows memories (book or summary). */
function materialRules(memories: readonly StoryMemory[]): string[] {
  const rules = [
    '- "text" is what is written in a letter or document (read from the page); "transcript" is what is said in a recording; "caption" and "place" are in the family\'s words. People\'s own words may be quoted verbatim, in quotation marks, saying whose they are.',
    '- "people" are the people the family named in a photo or film; "objects" are things seen in it. Name only people a memory names.',
    "- A memory's place is where it was made, in the family's words; name a place only as a memory gives it.",
  ];
  if (memories.some((m) => m.roughTranscript && m.transcript)) {
    rules.push(
      '- A memory with "transcriptIsRough": true has a rough transcript, heard by a simple offline speech recogniser: many of its words are wrong. Use it only for what the recording is broadly about; never quote it, and never present its words as what anyone said.',
    );
  }
  if (memories.some((m) => m.machineCaption && m.caption)) {
    rules.push('- A memory with "captionByMachine": true has a caption a machine composed: use it for what is in the picture, never quote it as anyone\'s words.');
  }
  if (memories.some((m) => m.contributor)) {
    rules.push('- "from" is who sent a memory (and how they knew the person); "message" is what they wrote with it, their own words: "her neighbour remembers: …".');
  }
  if (memories.some((m) => m.duplicateGroup)) {
    rules.push('- Memories with "copyOf" are copies of the memory with that id: count the picture once.');
  }
  if (memories.some((m) => m.afterPassing)) {
    rules.push('- Memories with "afterPassing": true are dated after the person died: they belong to remembering them, not to their life.');
  }
  return rules;
}

function bookRules(options: StoryOptions): string[] {
  return [
    '- Paragraph text is plain prose: no markdown, no headings, no ids.',
    '- Write in the language most of the material is in.',
    `- Style. ${STYLES[options.style]}`,
    options.includeTimeline
      ? '- timeline: the dated events the material shows, oldest first; date as YYYY, YYYY-MM or YYYY-MM-DD, only as precise as the material is.'
      : '- timeline: return an empty array.',
    options.includeThemes
      ? '- themes: the threads that run through the life (a place, a passion, a bond), each with a short description, each drawn from at least two memories.'
      : '- themes: return an empty array.',
    'Answer with JSON only.',
  ];
}

/** The book in one request, from the memories themselves. */
export function bookSystemPrompt(options: StoryOptions, context: StoryContext): string {
  return [
    "You write the story of a person's life for their family, from the memories the family collected: photos, videos, recordings and documents, given as JSON.",
    'Rules:',
    '- Use only facts found in the person and the memories. Never invent names, dates, places, events, feelings or quotes. If the memories say little, write little.',
    '- Every paragraph, timeline entry and theme cites in assetIds the ids of the memories it draws on, and only ids given in the memories.',
    ...materialRules(context.memories),
    ...bookRules(options),
  ].join('\n');
}

/** The book in the last stage, from the periods' notes (each note citing the memories it came from). */
export function bookFromNotesSystemPrompt(options: StoryOptions): string {
  return [
    "You write the story of a person's life for their family. The family's memories were too many to read at once, so they were read period by period into notes, given as JSON, oldest period first. Each note cites in assetIds the ids of the memories it came from.",
    'Rules:',
    '- Use only facts found in the person and the notes. Never invent names, dates, places, events, feelings or quotes. Quote only what a note quotes, as it quotes it.',
    '- Every paragraph, timeline entry and theme cites in assetIds the memory ids of the notes it draws on, and only ids found in the notes.',
    '- Follow the life in order of the periods; what is dated after the person died belongs to remembering them, at the end.',
    ...bookRules(options),
  ].join('\n');
}

/** Notes on one period, from its memories (first stage) or from earlier notes (merging stages). */
export function summarySystemPrompt(input: { memories: readonly StoryMemory[]; fromNotes: boolean; maxNotes: number; maxIds: number }): string {
  const source = input.fromNotes ? 'notes already written from the memories, period by period' : 'the memories of one period of their life';
  return [
    `You help write the story of a person's life for their family. You read ${source}, given as JSON, and write notes for the writer of the whole book, who will not see what you read.`,
    'Rules:',
    '- Use only facts found in what you read. Never invent names, dates, places, events, feelings or quotes.',
    '- Each note is one or two plain sentences: what happened, when (as the memories date it), where, with whom; keep the most telling words people wrote or said, quoted verbatim in quotation marks with whose words they are.',
    input.fromNotes
      ? '- Each note cites in assetIds the memory ids of the notes it draws on, and only ids found in them: keep the ids of the memories a claim comes from, never invent one.'
      : '- Each note cites in assetIds the ids of the memories it draws on, and only ids given in the memories.',
    ...(input.fromNotes ? [] : materialRules(input.memories)),
    '- Leave out what says nothing about the person; several memories of one day and place are one event.',
    `- At most ${input.maxNotes} notes, oldest first, each citing at most ${input.maxIds} ids: the memories that show it best.`,
    'Answer with JSON only.',
  ].join('\n');
}

export function personJson(person: StoryContext['person']): Record<string, unknown> {
  return { name: person.name, born: person.birthDate ?? undefined, died: person.passingDate ?? undefined, about: person.description ?? undefined };
}

/**
 * The memories as JSON objects, transcripts and texts cut to `cap` characters. A contribution's
 * message goes with the first of its memories only: several memories sent together say it once.
 */
export function memoriesJson(memories: readonly StoryMemory[], cap: number): Record<string, unknown>[] {
  const messaged = new Set<string>();
  return memories.map((m) => {
    const contribution = m.contribution;
    const message = contribution && !messaged.has(contribution.id) ? excerpt(contribution.message, cap) : undefined;
    if (contribution) messaged.add(contribution.id);
    return memoryJson(m, cap, message);
  });
}

function memoryJson(m: StoryMemory, cap: number, message: string | undefined): Record<string, unknown> {
  const from = m.contributor ? (m.relationship ? `${m.contributor} (${m.relationship})` : m.contributor) : undefined;
  return {
    id: m.id,
    date: m.date ?? undefined,
    kind: m.kind,
    title: m.title,
    caption: m.caption ?? undefined,
    captionByMachine: m.machineCaption && m.caption ? true : undefined,
    place: m.place ?? undefined,
    people: m.people?.length ? m.people : undefined,
    objects: m.objects?.length ? m.objects : undefined,
    tags: m.tags.length > 0 ? m.tags : undefined,
    transcript: excerpt(m.transcript, cap),
    transcriptIsRough: m.roughTranscript && m.transcript ? true : undefined,
    text: excerpt(m.text, cap),
    from,
    message,
    copyOf: m.duplicateGroup && m.duplicateGroup !== m.id ? m.duplicateGroup : undefined,
    afterPassing: m.afterPassing ? true : undefined,
  };
}

/** The person and memories as JSON with excerpts cut to `cap`. */
export function contextJson(context: StoryContext, cap: number): string {
  return JSON.stringify({ person: personJson(context.person), memories: memoriesJson(context.memories, cap) });
}

/** The person and all memories as the one-request prompt gives them, excerpts at their longest. */
export function storyContextJson(context: StoryContext): string {
  return contextJson(context, MAX_EXCERPT);
}

/**
 * The largest excerpt cap, from `floor` up to MAX_EXCERPT, at which `fits` holds for the JSON;
 * null when it does not hold even at `floor`. Binary search: longer caps never make JSON shorter.
 */
export function fitContextJson(context: StoryContext, fits: (json: string) => boolean, floor: number): string | null {
  const full = contextJson(context, MAX_EXCERPT);
  if (fits(full)) return full;
  let best = contextJson(context, floor);
  if (!fits(best)) return null;
  let low = floor;
  let high = MAX_EXCERPT;
  while (high - low > 50) {
    const mid = Math.floor((low + high) / 2);
    const json = contextJson(context, mid);
    if (fits(json)) {
      best = json;
      low = mid;
    } else high = mid;
  }
  return best;
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
