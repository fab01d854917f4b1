import type { EntityManager, MikroORM } from '@mikro-orm/postgresql';
import { indexStories } from '../search/story-entries.js';
import { z } from 'zod';
import type { Ai } from '../../ai/ai.registry.js';
import { AiProviderError, AiUnavailableError, type StoryStageProgress } from '../../ai/ai.port.js';
import { narrativeOf } from '../../ai/narrative.js';
import { validateCitations } from './citations.js';
import { Asset, Chest, Story } from '../../db/entities/index.js';
import { ChestEventKind, StoryStatus, StoryStyle } from '../../db/enums.js';
import { withinTransaction } from '../../db/transaction.js';
import type { EventBus } from '../../events/events.port.js';
import { topics } from '../../events/events.port.js';
import type { JobContext, JobQueue } from '../../jobs/jobs.port.js';
import type { Logger } from '../../logger.js';
import { authorizeChest, may } from '../access/access.service.js';
import type { Actor } from '../actor.js';
import { badInput, conflict, notFound } from '../errors.js';
import { appendChestEvent, publishChestEvents } from '../events/chest-events.service.js';
import { isUuid, parseInput, text } from '../validation.js';
import { buildStoryContext, STORY_SOURCE_FILTER } from './story-context.js';
import { hiddenNamesOf, nameScrubber, scrubContext, scrubDraft } from './hidden-names.js';
import { awaitSettledMemories } from './story-readiness.js';

/** What storyProgress subscribers see while a story is written (read from the story row). */
export interface StoryProgressEvent {
  storyId: string;
  chestId: string;
  status: StoryStatus;
  /** The narrative so far (plain text, paragraphs separated by blank lines). */
  narrative: string;
  error: string | null;
}

/**
 * What topics.story carries when the story row has changed: ids and a little state, never the
 * narrative or the error. NOTIFY drops payloads of 8000 bytes or more and a narrative outgrows
 * that, so the text lives in the row and each subscriber reads it from there (watchStory).
 */
export interface StoryProgressSignal {
  storyId: string;
  chestId: string;
  status: StoryStatus;
  /** Characters of narrative now stored (content). */
  length: number;
}

export interface StoryDeps {
  orm: MikroORM;
  events: EventBus;
  log: Logger;
  ai: Ai;
  /** To wait for memories still being processed or analysed (none: write from what is there). */
  queue?: JobQueue;
  /** Most memories a story is written from (MAX_STORY_MEMORIES unless given; tests pass a small one). */
  maxStoryMemories?: number;
}

const PROGRESS_INTERVAL_MS = 250;

const generateInput = z.object({
  chestId: z.string(),
  style: z.enum(StoryStyle),
  includeTimeline: z.boolean(),
  includeThemes: z.boolean(),
});

/**
 * Editors and owners ask for a story: a Story row in GENERATING and its job, in one transaction.
 * The narrative streams over storyProgress as it is written; storyReady fires when it is done.
 */
export async function generateStory(em: EntityManager, actor: Actor, input: z.input<typeof generateInput>, queue: JobQueue): Promise<Story> {
  const chest = await authorizeChest(em, actor, input.chestId, 'edit');
  const data = parseInput(generateInput, input);
  if ((await em.count(Asset, STORY_SOURCE_FILTER(chest.id))) === 0) {
    throw badInput('chestId', 'The chest has no processed memories to write a story from yet');
  }
  const story = em.create(Story, {
    chest,
    title: `The story of ${chest.personName}`,
    style: data.style,
    status: StoryStatus.GENERATING,
    includeTimeline: data.includeTimeline,
    includeThemes: data.includeThemes,
  } as never);
  story.lineageId = story.id;
  await withinTransaction(em, () => queue.enqueue(em, 'story.generate', { storyId: story.id }));
  return story;
}

/**
 * The story.generate job. Cites are checked against the memories the writer was given: an id
 * that is not one of them is removed, and a paragraph, timeline entry or theme left without a
 * citation is dropped (counted in generation.droppedClaims). Retryable AI failures are thrown for
 * the queue to retry; anything else ends the story FAILED with a reason for people.
 */
export async function writeStory(deps: StoryDeps, job: JobContext<{ storyId: string }>): Promise<void> {
  const em = deps.orm.em.fork();
  const story = await em.findOne(Story, { id: job.data.storyId }, { populate: ['chest'] });
  if (!story || story.status !== StoryStatus.GENERATING) return;
  const chest = story.chest;
  const progress = narrativeSaver(em, deps, story);

  try {
    if (deps.queue) {
      const unsettled = await awaitSettledMemories(em, deps.queue, chest.id, {
        signal: job.signal,
        onWait: (n) => deps.log.info({ storyId: story.id, memories: n }, 'story waits for memories still being processed'),
      });
      if (unsettled > 0) deps.log.warn({ storyId: story.id, memories: unsettled }, 'story written without memories that are still being processed');
    }
    const started = Date.now();
    // Consent: the names of hidden people are rewritten in what the writer reads, in what it streams and in what it writes.
    const scrub = nameScrubber(await hiddenNamesOf(em, chest));
    const built = await buildStoryContext(em, chest, { maxMemories: deps.maxStoryMemories });
    if (built.leftOut > 0) deps.log.warn({ storyId: story.id, memories: built.memories.length, leftOut: built.leftOut }, 'story written from a selection of the memories');
    const context = scrubContext(built, scrub);
    if (context.memories.length === 0) throw new AiUnavailableError('The chest has no processed memories to write a story from');
    const onNarrative = (soFar: string) => progress.onNarrative(scrub(soFar));
    const onStage = (stage: StoryStageProgress) => deps.log.info({ storyId: story.id, ...stage }, 'story stage written');
    const written = await deps.ai.generateStory(context, { style: story.style, includeTimeline: story.includeTimeline, includeThemes: story.includeThemes }, { onNarrative, onStage, signal: job.signal });
    const draft = scrubDraft(written, scrub);
    await progress.flush();
    const { draft: cited, report } = validateCitations(draft, new Set(context.memories.map((m) => m.id)));
    if (cited.paragraphs.length === 0) throw new AiProviderError('The writer produced nothing that cites the memories', false);
    const content = narrativeOf(cited.paragraphs);
    const message = await em.transactional(async (tx) => {
      await tx.nativeUpdate(
        Story,
        { id: story.id, status: StoryStatus.GENERATING },
        {
          status: StoryStatus.READY,
          title: cited.title.trim().slice(0, 300) || story.title,
          content,
          paragraphs: cited.paragraphs,
          timeline: story.includeTimeline ? cited.timeline : [],
          themes: story.includeThemes ? cited.themes : [],
          error: null,
          generation: {
            provider: cited.provider,
            model: cited.model,
            generatedAt: new Date(),
            durationMs: Date.now() - started,
            droppedClaims: (draft.droppedClaims ?? 0) + report.droppedParagraphs + report.droppedTimelineEntries + report.droppedThemes,
            leftOutMemories: built.leftOut,
          },
        },
      );
      await indexStories(tx, { storyIds: [story.id] });
      return appendChestEvent(tx, { chestId: chest.id, kind: ChestEventKind.STORY_READY, storyId: story.id });
    });
    publishChestEvents(deps.events, [message]);
    signalStory(deps.events, story, StoryStatus.READY, content.length);
    deps.log.info({ storyId: story.id, provider: cited.provider, model: cited.model, dropped: report }, 'story written');
  } catch (err) {
    // No progress write may land after the outcome below (nor outlive the job).
    await progress.settled();
    if (err instanceof AiProviderError && err.retryable && !job.signal.aborted) throw err;
    if (!(err instanceof AiProviderError || err instanceof AiUnavailableError)) throw err;
    await failStory(em, deps.events, story, err.message);
  }
}

/**
 * The narrative so far, stored in the story row and signalled to subscribers after each write:
 * whenever a paragraph was added (the local writer hands over a whole paragraph at a time, all
 * within milliseconds), and otherwise at most every PROGRESS_INTERVAL_MS (a model streams tokens).
 * Writes run one after another, so neither the row nor the signals go backwards; a write never
 * touches a story no longer GENERATING.
 */
function narrativeSaver(em: EntityManager, deps: Pick<StoryDeps, 'events' | 'log'>, story: Story) {
  let last = 0;
  let savedParagraphs = 0;
  let pending: string | null = null;
  let writing: Promise<void> = Promise.resolve();
  const save = (narrative: string) => {
    writing = writing
      .then(async () => {
        const changed = await em.nativeUpdate(Story, { id: story.id, status: StoryStatus.GENERATING }, { content: narrative });
        if (changed > 0) signalStory(deps.events, story, StoryStatus.GENERATING, narrative.length);
      })
      // Progress is only worth seeing live; the finished story is written (or fails) on its own.
      .catch((err: unknown) => deps.log.warn({ err, storyId: story.id }, 'story progress not saved'));
  };
  return {
    onNarrative(soFar: string): void {
      pending = soFar;
      const now = Date.now();
      const paragraphs = soFar.split(/\n\s*\n/).length;
      if (now - last < PROGRESS_INTERVAL_MS && paragraphs <= savedParagraphs) return;
      last = now;
      savedParagraphs = paragraphs;
      pending = null;
      save(soFar);
    },
    /** Stores what the throttle held back, and waits for every write. */
    async flush(): Promise<void> {
      if (pending !== null) save(pending);
      pending = null;
      await writing;
    },
    /** Waits for the writes already started. */
    settled: (): Promise<void> => writing,
  };
}

function signalStory(bus: EventBus, story: Story, status: StoryStatus, length: number): void {
  bus.publish<StoryProgressSignal>(topics.story(story.id), { storyId: story.id, chestId: story.chest.id, status, length });
}

/** The dead-letter step: the writer never got through. */
export async function recordStoryGaveUp(deps: Pick<StoryDeps, 'orm' | 'events'>, storyId: string): Promise<void> {
  const em = deps.orm.em.fork();
  const story = await em.findOne(Story, { id: storyId }, { populate: ['chest'] });
  if (!story || story.status !== StoryStatus.GENERATING) return;
  await failStory(em, deps.events, story, 'The AI service could not be reached after several attempts; try again later');
}

/** FAILED with a reason for people; a half-written narrative is not kept (nothing in it is checked). */
async function failStory(em: EntityManager, bus: EventBus, story: Story, error: string): Promise<void> {
  const changed = await em.nativeUpdate(Story, { id: story.id, status: StoryStatus.GENERATING }, { status: StoryStatus.FAILED, error, content: '' });
  if (changed > 0) signalStory(bus, story, StoryStatus.FAILED, 0);
}

/** A story the caller may read: members see every version; others only the published one. */
export async function getStory(em: EntityManager, actor: Actor, storyId: string): Promise<Story> {
  const story = isUuid(storyId) ? await em.findOne(Story, { id: storyId }) : null;
  if (!story) throw notFound('Story');
  const chest = await authorizeChest(em, actor, story.chest.id, 'read').catch(() => {
    throw notFound('Story');
  });
  if (!story.published && !(await may(actor, chest, 'member'))) throw notFound('Story');
  return story;
}

const editInput = z.object({
  title: text(300).optional(),
  content: text(200_000, { multiline: true }).optional(),
});

/**
 * Editors and owners edit a story: the edit is a new version (the old one stays, as written).
 * Paragraphs kept word for word keep their citations; new or changed ones are a person's words.
 */
export async function editStory(em: EntityManager, actor: Actor, storyId: string, input: z.input<typeof editInput>): Promise<Story> {
  const base = await getStory(em, actor, storyId);
  await authorizeChest(em, actor, base.chest.id, 'edit');
  const data = parseInput(editInput, input);
  if (data.title === undefined && data.content === undefined) throw badInput('input', 'Give a new title, new content, or both');
  if (base.status !== StoryStatus.READY) throw conflict(`Only a finished story can be edited; this one is ${base.status.toLowerCase()}`);
  const lineageId = base.lineageId ?? base.id;
  const [{ max } = { max: 0 }] = await em.execute<{ max: number }[]>('select coalesce(max(version), 0)::int as max from story where lineage_id = ? or id = ?', [lineageId, lineageId]);
  const cites = new Map(base.paragraphs.map((p) => [p.text.trim(), p.assetIds]));
  const content = data.content ?? base.content;
  const paragraphs = content
    .split(/\n\s*\n/)
    .map((t) => t.trim())
    .filter(Boolean)
    .map((t) => ({ text: t, assetIds: cites.get(t) ?? [] }));
  const version = em.create(Story, {
    chest: base.chest,
    title: data.title ?? base.title,
    content,
    paragraphs,
    style: base.style,
    status: StoryStatus.READY,
    timeline: base.timeline,
    themes: base.themes,
    generation: base.generation,
    includeTimeline: base.includeTimeline,
    includeThemes: base.includeThemes,
    version: max + 1,
    lineageId,
    editedBy: actor.accountId,
  } as never);
  await em.flush();
  // A crash between the two leaves the version unindexed until the worker's next start (indexStoriesNotIndexed).
  await indexStories(em, { storyIds: [version.id] });
  return version;
}

/** Every version of a story, newest first. Members only (drafts are theirs). */
export async function storyVersions(em: EntityManager, actor: Actor, storyId: string): Promise<Story[]> {
  const story = await getStory(em, actor, storyId);
  await authorizeChest(em, actor, story.chest.id, 'member');
  const lineageId = story.lineageId ?? story.id;
  return em.find(Story, { $or: [{ lineageId }, { id: lineageId }] }, { orderBy: { version: 'desc', createdAt: 'desc' } });
}

/** Owners choose the version everyone who may read the chest sees (Chest.publishedStory). */
export async function publishStory(em: EntityManager, actor: Actor, storyId: string): Promise<Story> {
  const story = await getStory(em, actor, storyId);
  const chest = await authorizeChest(em, actor, story.chest.id, 'manage');
  if (story.status !== StoryStatus.READY) throw conflict(`Only a finished story can be published; this one is ${story.status.toLowerCase()}`);
  await em.transactional(async (tx) => {
    await tx.nativeUpdate(Story, { chest: chest.id, published: true }, { published: false });
    await tx.nativeUpdate(Story, { id: story.id }, { published: true });
    await tx.nativeUpdate(Chest, { id: chest.id }, { publishedStory: story.id });
  });
  story.published = true;
  chest.publishedStory = story;
  return story;
}
