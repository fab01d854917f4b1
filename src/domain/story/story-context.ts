import type { EntityManager } from '@mikro-orm/postgresql';
import type { StoryContext, StoryMemory } from '../../ai/ai.port.js';
import { Asset, type Chest } from '../../db/entities/index.js';
import { ContributionStatus, FileType, ProcessingStatus, TagSource } from '../../db/enums.js';
import { hammingDistance } from '../../media/perceptual-hash.js';
import { machineCaptionRecord } from '../people/captions.js';
import { namedPeopleIn } from '../people/people.queries.js';

/** Enough for a long life; more would only be cut by the writer's context budget. */
export const MAX_STORY_MEMORIES = 400;
const MAX_TEXT_CHARS = 4000;
/** Perceptual hashes this few bits apart are one picture (resized, recompressed, re-saved); different photos differ in about 32. */
const NEAR_COPY_BITS = 6;

/** What story writing may draw on: visible (approved), processed, live memories of the chest. */
export const STORY_SOURCE_FILTER = (chestId: string) => ({
  chest: chestId,
  deletedAt: null,
  status: ProcessingStatus.COMPLETE,
  $or: [{ contribution: null }, { contribution: { status: ContributionStatus.APPROVED } }],
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
export async function buildStoryContext(em: EntityManager, chest: Chest): Promise<StoryContext> {
  const assets = await em.find(Asset, STORY_SOURCE_FILTER(chest.id), {
    populate: ['contribution'],
    orderBy: [{ dateTaken: 'asc nulls last' }, { createdAt: 'asc' }, { id: 'asc' }],
    limit: MAX_STORY_MEMORIES,
  });
  // Consent: only people the family named and did not hide are named to the writer.
  const people = await namedPeopleIn(em, assets.map((a) => a.id));
  const groups = duplicateGroups(assets);
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
  };
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

/**
 * Copies of one picture: the same bytes (sha256) or perceptual hashes within NEAR_COPY_BITS. Each
 * memory in a group maps to the group's first memory in `assets` order; unique memories are absent.
 * Quadratic in the photos with a hash, which MAX_STORY_MEMORIES keeps small.
 */
export function duplicateGroups(assets: readonly Pick<Asset, 'id' | 'sha256' | 'perceptualHash'>[]): Map<string, string> {
  const groupOf = new Map<string, string>();
  for (let i = 0; i < assets.length; i++) {
    const a = assets[i]!;
    if (groupOf.has(a.id)) continue;
    for (let j = i + 1; j < assets.length; j++) {
      const b = assets[j]!;
      if (groupOf.has(b.id)) continue;
      const same = a.sha256 === b.sha256 || (a.perceptualHash !== null && b.perceptualHash !== null && hammingDistance(a.perceptualHash, b.perceptualHash) <= NEAR_COPY_BITS);
      if (!same) continue;
      groupOf.set(a.id, a.id);
      groupOf.set(b.id, a.id);
    }
  }
  return groupOf;
}
