import type { EntityManager } from '@mikro-orm/postgresql';
import type { StoryContext, StoryMemory } from '../../ai/ai.port.js';
import { Asset, type Chest } from '../../db/entities/index.js';
import { ContributionStatus, FileType, ProcessingStatus, TagSource } from '../../db/enums.js';
import { namedPeopleIn } from '../people/people.queries.js';

/** Enough for a long life; more would only be cut by the writer's context budget. */
export const MAX_STORY_MEMORIES = 400;
const MAX_TEXT_CHARS = 4000;

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
 * hidden one), tags, transcripts, text and who sent them.
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
    transcript: a.transcription?.text ? cut(a.transcription.text) : null,
    // A rough machine hearing (pocketsphinx): writers may say what it is about, never quote it.
    roughTranscript: a.transcription?.rough === true,
    text: a.extractedText ? cut(a.extractedText) : null,
    ...(people.get(a.id) && { people: people.get(a.id) }),
    contributor: a.contribution?.contributorName ?? null,
    relationship: a.contribution?.relationship ?? null,
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
