import { AiProviderError, type StoryContext, type StoryMemory, type StoryStageProgress } from '../ai.port.js';
import { memoriesJson, personJson, summarySystemPrompt } from './story-prompt.js';
import { estimateTokens } from './tokens.js';

/**
 * A chest larger than one request is read in stages: its memories, oldest first, are cut into
 * periods that each fit one request; each period is summarised into notes, every note citing the
 * memories it came from; while the notes of all periods are still too many for the book's request,
 * neighbouring periods' notes are summarised together, the new notes citing the original memory
 * ids their sources cited. Ids a model invents are dropped at every stage, so what reaches the book
 * cites only memories of the chest.
 */

export interface Note {
  text: string;
  assetIds: string[];
}

export interface PeriodNotes {
  /** "1962", "1962–1968", "undated". */
  period: string;
  notes: Note[];
}

/** One summary request, as story.ts sends it: the system prompt and the JSON to read. */
export interface SummaryRequest {
  system: string;
  user: string;
}

export interface StageDeps {
  context: StoryContext;
  /** Asks the model for notes; returns them as it answered (cleanNotes keeps the usable ones). */
  summarise: (request: SummaryRequest) => Promise<Note[]>;
  /** Tokens a summary request with this system prompt and user message leaves unused of the budget (negative: over it). */
  summaryRoom: (system: string, user: string) => number;
  /** Whether the book's request over these periods is within the budget. */
  bookFits: (periods: PeriodNotes[]) => boolean;
  /** Tokens the notes' answer may take (a summary request's max_tokens). */
  noteAnswerTokens: number;
  /** Excerpt cap for transcripts and texts of memories in a period. */
  excerpt: number;
  onStage?: (progress: StoryStageProgress) => void;
}

/** The model's answer was cut at max_tokens: a period too rich for one answer is read in halves. */
export class AnswerCutShort extends AiProviderError {
  constructor(message: string) {
    super(message, false);
    this.name = 'AnswerCutShort';
  }
}

/** Merging rounds before the notes are thinned to fit instead (a model that will not shorten). */
const MAX_MERGE_ROUNDS = 5;
/** A period is cut at a change of year once it is this full. */
const YEAR_CUT_FILL = 0.75;
/** About what one note costs (a sentence or two and up to IDS_PER_NOTE ids), to ask for no more than fit the answer. */
const TOKENS_PER_NOTE = 120;
/** Ids one note may cite: the memories that show it best (a note citing sixty memories outgrows the answer). */
export const IDS_PER_NOTE = 6;

export async function notesByPeriod(deps: StageDeps): Promise<PeriodNotes[]> {
  const { context } = deps;
  const maxNotes = Math.max(3, Math.floor(deps.noteAnswerTokens / TOKENS_PER_NOTE));
  const periods: PeriodNotes[] = [];
  const read = async (memories: StoryMemory[]): Promise<void> => {
    const system = summarySystemPrompt({ memories, fromNotes: false, maxNotes, maxIds: IDS_PER_NOTE });
    const period = periodName(memories);
    const user = `The person, and their memories of ${period}:\n${JSON.stringify({ person: personJson(context.person), period, memories: memoriesJson(memories, deps.excerpt) })}`;
    const allowed = new Set(memories.map((m) => m.id));
    let answer: Note[];
    try {
      answer = await deps.summarise({ system, user });
    } catch (error) {
      if (!(error instanceof AnswerCutShort) || memories.length < 2) throw error;
      const half = Math.ceil(memories.length / 2);
      await read(memories.slice(0, half));
      await read(memories.slice(half));
      return;
    }
    const notes = cleanNotes(answer, allowed);
    if (notes.length > 0) periods.push({ period, notes });
  };
  const cut = periodsOf(deps);
  for (const [index, memories] of cut.entries()) {
    await read(memories);
    deps.onStage?.({ stage: 'periods', done: index + 1, total: cut.length });
  }

  let current = periods;
  for (let round = 0; round < MAX_MERGE_ROUNDS && !deps.bookFits(current); round++) {
    const merged = await mergeRound(deps, current, maxNotes);
    // A round that shortened nothing would repeat forever; thinning below ends it.
    if (noteTokens(merged) >= noteTokens(current)) break;
    current = merged;
  }
  return deps.bookFits(current) ? current : thin(current, deps.bookFits);
}

/** Neighbouring periods, as many as one request holds, summarised together; a period alone passes through. */
async function mergeRound(deps: StageDeps, periods: PeriodNotes[], maxNotes: number): Promise<PeriodNotes[]> {
  const system = summarySystemPrompt({ memories: [], fromNotes: true, maxNotes, maxIds: IDS_PER_NOTE });
  const user = (batch: PeriodNotes[]): string =>
    `The person, and the notes on ${spanName(batch)}:\n${JSON.stringify({ person: personJson(deps.context.person), periods: batch })}`;
  const batches: PeriodNotes[][] = [];
  for (const period of periods) {
    const last = batches.at(-1);
    if (last && deps.summaryRoom(system, user([...last, period])) >= 0) last.push(period);
    else batches.push([period]);
  }
  const out: PeriodNotes[] = [];
  const total = batches.filter((b) => b.length > 1).length;
  let done = 0;
  for (const batch of batches) {
    if (batch.length === 1) {
      out.push(batch[0]!);
      continue;
    }
    const allowed = new Set(batch.flatMap((p) => p.notes.flatMap((n) => n.assetIds)));
    let notes: Note[] = [];
    try {
      notes = cleanNotes(await deps.summarise({ system, user: user(batch) }), allowed);
    } catch (error) {
      if (!(error instanceof AnswerCutShort)) throw error;
    }
    deps.onStage?.({ stage: 'merge', done: ++done, total });
    // Nothing usable came back (or too much): keep what there was rather than lose the periods.
    if (notes.length > 0) out.push({ period: spanName(batch), notes });
    else out.push(...batch);
  }
  return out;
}

/**
 * The memories cut into periods, oldest first, each fitting one summary request: cut where the
 * next memory would overflow, at a change of year once a period is mostly full, and before the
 * undated ones (which the context lists last).
 */
export function periodsOf(deps: Pick<StageDeps, 'context' | 'summaryRoom' | 'excerpt'>): StoryMemory[][] {
  const { context } = deps;
  // The emptiest request (every rule the chest needs, no memory) and what each memory adds to it;
  // a memory is costed with its contribution's message, which the period may not repeat: high, never low.
  const system = summarySystemPrompt({ memories: context.memories, fromNotes: false, maxNotes: 99, maxIds: IDS_PER_NOTE });
  const empty = `The person, and their memories of ${'0000–0000, and undated'}:\n${JSON.stringify({ person: personJson(context.person), period: '0000–0000, and undated', memories: [] })}`;
  const room = deps.summaryRoom(system, empty);
  // Stringified twice: the memory is JSON inside the user message, which is a string in the request's JSON.
  const cost = (m: StoryMemory): number => estimateTokens(JSON.stringify(JSON.stringify(memoriesJson([m], deps.excerpt)[0]))) + 1;

  const periods: StoryMemory[][] = [];
  let current: StoryMemory[] = [];
  let used = 0;
  for (const memory of context.memories) {
    const price = cost(memory);
    const previous = current.at(-1);
    const yearChanged = previous !== undefined && year(previous) !== year(memory);
    const cut =
      current.length > 0 &&
      (used + price > room || (yearChanged && used >= room * YEAR_CUT_FILL) || (previous?.date && !memory.date));
    if (cut) {
      periods.push(current);
      current = [];
      used = 0;
    }
    current.push(memory);
    used += price;
  }
  if (current.length > 0) periods.push(current);
  return periods;
}

/** Notes with text, citing only allowed ids (each once); the rest dropped. */
export function cleanNotes(notes: readonly Note[], allowed: ReadonlySet<string>): Note[] {
  return notes
    .map((n) => ({ text: n.text.trim(), assetIds: [...new Set(n.assetIds.map((id) => id.trim()))].filter((id) => allowed.has(id)) }))
    .filter((n) => n.text.length > 0 && n.assetIds.length > 0);
}

/** Fewer notes from the longest periods until the book's request fits: the last resort. */
function thin(periods: PeriodNotes[], fits: (periods: PeriodNotes[]) => boolean): PeriodNotes[] {
  const kept = periods.map((p) => ({ ...p, notes: [...p.notes] }));
  while (!fits(kept)) {
    const longest = kept.reduce((a, b) => (b.notes.length > a.notes.length ? b : a));
    if (longest.notes.length <= 1) {
      const index = kept.findIndex((p) => p.notes.length > 0);
      if (index === -1) break;
      kept.splice(index, 1);
      continue;
    }
    longest.notes.pop();
  }
  return kept.filter((p) => p.notes.length > 0);
}

const noteTokens = (periods: PeriodNotes[]): number => estimateTokens(JSON.stringify(periods));

const year = (m: StoryMemory): string | null => m.date?.slice(0, 4) ?? null;

function periodName(memories: StoryMemory[]): string {
  const years = memories.map(year).filter((y): y is string => y !== null);
  if (years.length === 0) return 'undated';
  const first = years[0]!;
  const last = years.at(-1)!;
  const span = first === last ? first : `${first}–${last}`;
  return years.length < memories.length ? `${span}, and undated` : span;
}

function spanName(batch: PeriodNotes[]): string {
  if (batch.length === 1) return batch[0]!.period;
  const years = batch.flatMap((p) => p.period.match(/\d{4}/g) ?? []);
  const undated = batch.some((p) => p.period.includes('undated'));
  const first = years[0];
  const last = years.at(-1);
  if (!first || !last) return 'undated';
  const span = first === last ? first : `${first}–${last}`;
  return undated ? `${span}, and undated` : span;
}
