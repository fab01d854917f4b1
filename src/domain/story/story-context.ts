import type { EntityManager, QueryOrderMap } from '@mikro-orm/postgresql';
import type { StoryContext, StoryMemory } from '../../ai/ai.port.js';
import { Asset, type Chest } from '../../db/entities/index.js';
import { FileType, ProcessingStatus, TagSource } from '../../db/enums.js';
import { machineCaptionRecord } from '../people/captions.js';
import { namedPeopleIn } from '../people/people.queries.js';
import { duplicateGroups } from './duplicates.js';
import { VISIBLE_ASSET_FILTER } from '../asset/asset.queries.js';

/**
 * Most memories one story is written from; a larger chest is thinned by chooseStoryMemories, never
 * cut at one end. The writers are not the limit (the local one is linear, the openai one writes in
 * stages within AI_STORY_TOKEN_BUDGET): building the context is. It holds up to ~8 KB of text a
 * memory (~8 MB here), and duplicateGroups compares photos pairwise on the worker's thread
 * (measured: ~0.14 s at 1,000 photos with perceptual hashes, ~0.4 s at 2,000; 1.4 s and 5 s before
 * hammingDistance stopped using BigInt).
 */
export const MAX_STORY_MEMORIES = 1000;
const MAX_TEXT_CHARS = 4000;

/** What story writing may draw on: visible (approved), processed, live memories of the chest. */
export const STORY_SOURCE_FILTER = (chestId: string) => ({
  chest: chestId,
  // Not in the bin, not waiting for review (asset.queries.ts): a binned memory leaves new stories at once.
  ...VISIBLE_ASSET_FILTER,
  status: ProcessingStatus.COMPLETE,
});

/**
 * The memories a story is written from, oldest first (undated last), as the writer sees them:
 * dates, captions, places in the family's words, the people the family named in them (never a
 * hidden one), tags, transcripts, text, who sent them and their message, whether a machine wrote
 * the caption and what it saw, which memories are copies of one picture, and which are dated after
 * the passing.
 * Never coordinates (a published story must not reveal where the family lives), never file
 * names, and never storage keys.
 */
export async function buildStoryContext(em: EntityManager, chest: Chest, options: StoryContextOptions = {}): Promise<BuiltStoryContext> {
  const max = options.maxMemories ?? MAX_STORY_MEMORIES;
  const total = await em.count(Asset, STORY_SOURCE_FILTER(chest.id));
  const chosen = total > max ? await chooseStoryMemories(em, chest, max) : null;
  const assets = await em.find(Asset, chosen ? { ...STORY_SOURCE_FILTER(chest.id), id: { $in: chosen } } : STORY_SOURCE_FILTER(chest.id), {
    populate: ['contribution'],
    orderBy: STORY_ORDER,
  });
  // Consent: only people the family named and did not hide are named to the writer.
  const people = await namedPeopleIn(em, assets.map((a) => a.id));
  const groups = duplicateGroups(
    assets.map((a) => ({
      id: a.id,
      kind: a.fileType,
      sha256: a.sha256,
      perceptualHash: a.perceptualHash,
      text: a.extractedText,
      transcript: a.transcription?.text ?? null,
      caption: isMachineCaption(a) ? null : a.caption,
      captionBy: a.contribution?.id ?? null,
    })),
  );
  const memories: StoryMemory[] = assets.map((a) => ({
    id: a.id,
    kind: a.fileType,
    // Never the file name: names often hold a street or a person, and published stories reach
    // people who may not see real names (see visibleFilename). Captions say what a memory is.
    title: STORY_TITLE[a.fileType],
    date: a.dateTaken ? a.dateTaken.toISOString().slice(0, 10) : null,
    caption: a.caption,
    // The place people named, never the GPS `location`.
    place: a.place,
    // Only what describes the memory; a person's own tags first.
    tags: [...a.tags].sort((x, y) => Number(y.source === TagSource.USER) - Number(x.source === TagSource.USER)).map((t) => t.name),
    ...(a.tags.some((t) => t.source === TagSource.USER) && { ownTags: a.tags.filter((t) => t.source === TagSource.USER).map((t) => t.name) }),
    transcript: a.transcription?.text ? cut(a.transcription.text) : null,
    // A rough machine hearing (pocketsphinx): writers may say what it is about, never quote it.
    roughTranscript: a.transcription?.rough === true,
    text: a.extractedText ? cut(a.extractedText) : null,
    ...(people.get(a.id) && { people: people.get(a.id) }),
    contributor: a.contribution?.contributorName ?? null,
    relationship: a.contribution?.relationship ?? null,
    ...(a.contribution && { contribution: { id: a.contribution.id, message: a.contribution.message ? cut(a.contribution.message) : null } }),
    ...(isMachineCaption(a) && { machineCaption: true }),
    ...(objectsOf(a) && { objects: objectsOf(a) }),
    ...(groups.has(a.id) && { duplicateGroup: groups.get(a.id) }),
    ...(isAfter(a.dateTaken, chest.passingDate) && { afterPassing: true }),
  }));
  return {
    person: { name: chest.personName, birthDate: chest.birthDate, passingDate: chest.passingDate, description: chest.description },
    memories,
    leftOut: total - assets.length,
  };
}

export interface StoryContextOptions {
  /** Most memories to write from (MAX_STORY_MEMORIES unless given; tests pass a small one). */
  maxMemories?: number;
}

/** The writer's context, and how many of the chest's memories the bound left out of it (usually 0). */
export interface BuiltStoryContext extends StoryContext {
  leftOut: number;
}

const STORY_ORDER: QueryOrderMap<Asset>[] = [{ dateTaken: 'asc nulls last' }, { createdAt: 'asc' }, { id: 'asc' }];

/**
 * The ids of at most `max` memories of a chest larger than that. Memories dated after the passing
 * and contributions are always kept (thinned evenly themselves only if they alone are more than
 * `max`); the rest of the life is kept evenly across time: every year (undated memories are one
 * more) gets an equal share, a year with fewer memories keeps them all and leaves its share to the
 * others, and within a year the memories are taken at even steps, its first and last among them
 * (with more years than room, one memory of years taken at even steps, the newest among them).
 * Reads only ids and dates, so the full memories are loaded for the chosen ones only.
 */
async function chooseStoryMemories(em: EntityManager, chest: Chest, max: number): Promise<string[]> {
  const found = await em.fork().find(Asset, STORY_SOURCE_FILTER(chest.id), { fields: ['id', 'dateTaken', 'contribution'], orderBy: STORY_ORDER });
  const rows = found.map((a) => ({ id: a.id, dateTaken: a.dateTaken, kept: (a.contribution ?? null) !== null || isAfter(a.dateTaken, chest.passingDate) }));
  const always = rows.filter((r) => r.kept);
  if (always.length >= max) return evenly(always, max).map((a) => a.id);
  const years = new Map<string, typeof rows>();
  for (const a of rows.filter((r) => !r.kept)) {
    const year = a.dateTaken ? String(a.dateTaken.getUTCFullYear()) : 'undated';
    const same = years.get(year);
    if (same) same.push(a);
    else years.set(year, [a]);
  }
  const chosen = always.map((a) => a.id);
  let room = max - always.length;
  // More years than room: one memory from each of years chosen at even steps, the last year among them.
  if (years.size > room) return [...chosen, ...evenly([...years.values()], room).map((year) => year.at(-1)!.id)];
  const bySize = [...years.values()].sort((x, y) => x.length - y.length);
  for (const [i, year] of bySize.entries()) {
    const share = Math.floor(room / (bySize.length - i));
    const taken = evenly(year, share);
    chosen.push(...taken.map((a) => a.id));
    room -= taken.length;
  }
  return chosen;
}

/** `n` of `items` at even steps, the first and the last among them. */
function evenly<T>(items: readonly T[], n: number): T[] {
  if (n >= items.length) return [...items];
  if (n <= 0) return [];
  if (n === 1) return [items[items.length - 1]!];
  return Array.from({ length: n }, (_, k) => items[Math.round((k * (items.length - 1)) / (n - 1))]!);
}

const STORY_TITLE: Record<FileType, string> = {
  [FileType.IMAGE]: 'Photo',
  [FileType.VIDEO]: 'Video',
  [FileType.AUDIO]: 'Recording',
  [FileType.DOCUMENT]: 'Document',
};

const cut = (text: string) => (text.length > MAX_TEXT_CHARS ? `${text.slice(0, MAX_TEXT_CHARS)}…` : text);

/** The caption is the one the last describeImage wrote (a machine's), not a person's. */
function isMachineCaption(a: Asset): boolean {
  const record = machineCaptionRecord(a.analyses);
  return a.caption !== null && record?.caption === a.caption;
}

/** Labels of what the local describer saw, without "person" (the people are named, or not, in `people`). */
function objectsOf(a: Asset): string[] | undefined {
  const labels = (machineCaptionRecord(a.analyses)?.composedFrom?.objects ?? []).map((o) => o.label).filter((l) => l !== 'person');
  return labels.length > 0 ? labels : undefined;
}

function isAfter(date: Date | null, passingDate: string | null): boolean {
  return date !== null && passingDate !== null && /^\d{4}-\d{2}-\d{2}/.test(passingDate) && date.toISOString().slice(0, 10) > passingDate.slice(0, 10);
}
