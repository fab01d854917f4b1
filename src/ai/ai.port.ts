import type { FileType, StoryStyle } from '../db/enums.js';

/**
 * The AI extension point: what the product asks of a model, whoever runs it. Providers are
 * registered by name (ai.registry.ts) and chained per task ("prefer local, fall back to the API").
 * A provider implements the tasks it can do; a missing method means "not offered here".
 * Every result names the provider and model that made it, so the family can see what a machine
 * wrote and what a person did.
 */

export interface MadeBy {
  provider: string;
  model: string;
}

export interface TranscriptSegment {
  /** Seconds from the start. */
  start: number;
  end: number;
  text: string;
}

export interface Transcript extends MadeBy {
  text: string;
  /** BCP 47 / ISO 639-1 when known. */
  language: string | null;
  segments: TranscriptSegment[];
  /**
   * Heard by a simple offline recogniser (pocketsphinx) whose words are often wrong: kept, shown
   * and searchable as a rough transcript, never quoted as what the speaker said. Whisper's are not.
   */
  rough: boolean;
  /** How sure the engine was, 0..1 (mean word confidence), when it says; null otherwise. */
  confidence: number | null;
}

export interface ImageTag {
  /** Lower case, one to three words ("beach", "black and white", "1960s"). */
  name: string;
  /** 0..1 */
  confidence: number;
}

export interface ImageDescription extends MadeBy {
  tags: ImageTag[];
  /** One plain sentence, or null when the provider cannot say anything true. */
  caption: string | null;
  /**
   * Set only when the caption was composed on this machine from known facts (the local provider):
   * what it was composed from besides who, where and when, which are the family's and are read
   * again whenever it is recomposed (domain/people/captions.ts), e.g. after they name or hide
   * someone. Absent for a remote model's free text: nobody can rewrite that sentence, so it is left
   * as the model wrote it.
   */
  composedFrom?: ComposedCaption;
}

/** The facts a locally composed caption came from (ai/local/caption.ts composeCaption). */
export interface ComposedCaption {
  by: 'local';
  /** What the model saw, as passed to composeCaption: most certain first, "person" for someone nobody named. */
  objects: { label: string; count: number }[];
}

export interface OcrText extends MadeBy {
  text: string;
  /** Mean word confidence 0..1, when the engine reports one. */
  confidence: number | null;
}

/** A local file to work on (the original, or a derivative such as a poster or 16 kHz WAV). */
export interface AiFile {
  path: string;
  mimeType: string;
  signal?: AbortSignal;
}

export interface ImageHints {
  dateTaken?: Date | null;
  latitude?: number | null;
  width?: number | null;
  height?: number | null;
  /** Where it was made, in the family's words (Asset.place), for the caption; never coordinates. */
  place?: string | null;
  /** Names of the people recognised in it, for the caption; empty or absent when none are known. */
  people?: readonly string[];
}

/** One memory as the story writer sees it: no coordinates, no storage keys, no secrets. */
export interface StoryMemory {
  id: string;
  kind: FileType;
  title: string;
  /** ISO date (YYYY-MM-DD) when known. */
  date: string | null;
  caption: string | null;
  /**
   * Where it was made, in the family's words ("Whitby"), when they gave one. Never coordinates:
   * a published story must not reveal where the family lives. Absent means unknown.
   */
  place?: string | null;
  tags: string[];
  /** The tags a person gave it (updateMemory), a subset of `tags`: people's own words. Absent: none. */
  ownTags?: string[];
  transcript: string | null;
  /** The transcript is rough (see Transcript.rough): draw on what it is about, never quote it. Absent: not rough. */
  roughTranscript?: boolean;
  /**
   * Who is in it, as the family named them (the people whose faces were found in a photo). Never
   * a person the family hid (hidePerson), and never a group of faces nobody named. Absent: none.
   */
  people?: readonly string[];
  text: string | null;
  /** Who sent it, for memories that came through a contribution. */
  contributor: string | null;
  /** The contributor's relationship ("granddaughter"), when given. */
  relationship: string | null;
  /**
   * The contribution it came with (its id and the guest's message, in their words), so a writer
   * quotes one message once however many memories came with it. Absent: not a contribution.
   */
  contribution?: { id: string; message: string | null };
  /**
   * The caption was composed by a machine (the local describer: "People with a wine glass,
   * October 2017.") rather than written by a person: weak material, never quoted as anyone's words.
   * Absent: a person wrote it, or there is none.
   */
  machineCaption?: boolean;
  /** What the describer saw in a photo ("dog", "wine glass"; never "person"), most certain first. Absent: unknown. */
  objects?: readonly string[];
  /**
   * Copies and near-copies of one picture (same file, or perceptual hashes a few bits apart) share
   * a group: the id of the group's first memory (in this list's order). A writer counts a group
   * once. Absent: no copy in the chest.
   */
  duplicateGroup?: string;
  /** Dated after the person's passing (a memory of remembering them). Absent: not, or unknown. */
  afterPassing?: boolean;
}

export interface StoryContext {
  person: { name: string; birthDate: string | null; passingDate: string | null; description: string | null };
  /** Approved, processed memories, oldest first (undated last). */
  memories: StoryMemory[];
}

export interface StoryOptions {
  style: StoryStyle;
  includeTimeline: boolean;
  includeThemes: boolean;
}

/** Every claim cites the memories it comes from, by id. */
export interface StoryParagraph {
  text: string;
  assetIds: string[];
}

export interface StoryTimelineEntry {
  /** "1962", "1962-06" or "1962-06-01". */
  date: string;
  title: string;
  description: string | null;
  assetIds: string[];
}

export interface StoryTheme {
  name: string;
  description: string | null;
  assetIds: string[];
}

export interface StoryDraft extends MadeBy {
  title: string;
  paragraphs: StoryParagraph[];
  timeline: StoryTimelineEntry[];
  themes: StoryTheme[];
  /** Claims the provider already removed itself (malformed, or citing nothing it was given). */
  droppedClaims?: number;
}

export interface StoryStreamOptions {
  /** Called as the narrative grows, with the whole narrative so far (plain text, paragraphs separated by blank lines). */
  onNarrative?: (soFar: string) => void;
  /** Called as a writer that works in stages (openai, on a chest larger than one request) finishes a request of one, for the log. */
  onStage?: (progress: StoryStageProgress) => void;
  signal?: AbortSignal;
}

/** Where a staged story stands: notes per period of memories, periods' notes merged, the book from the notes. */
export interface StoryStageProgress {
  stage: 'periods' | 'merge' | 'book';
  /** Requests of this stage answered so far. */
  done: number;
  /** Requests this stage (or merging round) has, when known. */
  total: number | null;
}

export interface AiProvider {
  readonly name: string;
  transcribe?(audio: AiFile): Promise<Transcript>;
  describeImage?(image: AiFile, hints: ImageHints): Promise<ImageDescription>;
  /** OCR of a scan or photo of text. */
  extractText?(scan: AiFile): Promise<OcrText>;
  generateStory?(context: StoryContext, options: StoryOptions, stream?: StoryStreamOptions): Promise<StoryDraft>;
  /** Releases workers, sockets, ... */
  close?(): Promise<void>;
}

export type AiTask = 'transcribe' | 'describeImage' | 'extractText' | 'generateStory';

/**
 * The provider cannot do this task here (no model configured, no API key). Not retried; the next
 * provider in the chain is tried, and if none can, the reason is recorded for people to read.
 */
export class AiUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AiUnavailableError';
  }
}

/**
 * The provider tried and failed. `retryable`: worth trying again later (rate limit, 5xx,
 * timeout, connection); otherwise (bad request, output that breaks the schema) it is final.
 * The message is written for people and never contains keys or raw responses.
 */
export class AiProviderError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'AiProviderError';
  }
}
