import type { EntityManager } from '@mikro-orm/postgresql';
import { type CaptionObject, composeCaption } from '../../ai/local/caption.js';
import type { Analysis } from '../../db/entities/asset.types.js';
import { pgArray } from '../batch.js';
import { lockChestFaces } from './face-clustering.js';
import { namedPeopleIn } from './people.queries.js';
import { assetsShowing } from './redaction.js';

/**
 * Machine captions follow the family's decisions. A caption composed on this machine (the local
 * provider's composeCaption) names the people the family named and did not hide, and says where
 * and when in the memory's own words; when they name, hide, unhide or merge people, move a face,
 * or correct a memory's place or date, its caption is composed again from the same objects. The
 * people are only known once the AI step has grouped the faces, so it recomposes too when it saves.
 *
 * Only the machine's caption is rewritten: one equal to what the last describeImage wrote (its
 * record keeps that). A caption a person wrote, or cleared, stands, and so does a remote model's
 * free text (its record has no composedFrom: nobody can rewrite that sentence truthfully).
 */

/** What a memory's caption is recomposed from, read from its row. */
interface CaptionRow {
  id: string;
  caption: string | null;
  place: string | null;
  date_taken: Date | string | null;
  analyses: Analysis[] | null;
}

/** The record of the describeImage run whose caption is on the memory (the last one that was done), if any. */
export function machineCaptionRecord(analyses: readonly Analysis[]): Analysis | undefined {
  return analyses.findLast((r) => r.task === 'describeImage' && r.status === 'DONE');
}

/**
 * The caption the memory should have now, or undefined when it is not the machine's to rewrite:
 * no composed describeImage record, or a caption other than the one it wrote (a person's).
 */
export function recomposedCaption(input: {
  caption: string | null;
  analyses: readonly Analysis[];
  people: readonly string[];
  place: string | null;
  dateTaken: Date | null;
}): string | null | undefined {
  const record = machineCaptionRecord(input.analyses);
  const objects: readonly CaptionObject[] | undefined = record?.composedFrom?.objects;
  if (!record || !objects || record.caption === undefined) return undefined;
  if (input.caption !== record.caption) return undefined;
  return composeCaption({ people: input.people, objects, place: input.place, date: input.dateTaken });
}

/**
 * Composes again the machine captions of these memories, in the caller's transaction, and returns
 * the ids whose caption changed. The memories' rows are locked (in id order) before the people are
 * read, so a concurrent AI step saving one of them is waited for and its faces are seen. One
 * statement reads the memories, one their people, one writes what changed.
 */
export async function recaption(tx: EntityManager, input: { assetIds: readonly string[] }): Promise<string[]> {
  const ids = [...new Set(input.assetIds)].sort();
  if (ids.length === 0) return [];
  const rows = await tx.execute<CaptionRow[]>('select id, caption, place, date_taken, analyses from asset where id = any(?::uuid[]) order by id for update', [pgArray(ids)]);
  const composed = rows.filter((r) => machineCaptionRecord(r.analyses ?? [])?.composedFrom);
  if (composed.length === 0) return [];
  const people = await namedPeopleIn(tx, composed.map((r) => r.id));

  const changes: { id: string; caption: string | null; analyses: Analysis[] }[] = [];
  for (const row of composed) {
    const analyses = row.analyses ?? [];
    const dateTaken = row.date_taken === null ? null : new Date(row.date_taken);
    const caption = recomposedCaption({ caption: row.caption, analyses, people: people.get(row.id) ?? [], place: row.place, dateTaken });
    if (caption === undefined || caption === row.caption) continue;
    // The record says what the machine wrote now, so the next AI step still knows the caption for its own.
    const record = machineCaptionRecord(analyses)!;
    changes.push({ id: row.id, caption, analyses: analyses.map((r) => (r === record ? { ...r, caption } : r)) });
  }
  if (changes.length === 0) return [];
  await tx.execute(
    `update asset a set caption = v.caption, analyses = v.analyses, updated_at = now()
     from jsonb_to_recordset(?::jsonb) as v(id uuid, caption text, analyses jsonb) where a.id = v.id`,
    [JSON.stringify(changes)],
  );
  return changes.map((c) => c.id);
}

/**
 * Before a decision about these people of one chest: locks the memories showing them and returns
 * their ids, to recaption once it is made. The memories are locked first (in id order), as the AI
 * step locks a memory before its faces, so the two wait for each other instead of deadlocking;
 * then the chest's faces, which an AI step holds while it places a new photo's faces and
 * recaptions it: a photo of this person being saved meanwhile is either seen here (and recaptioned
 * with the decision) or saved after it (and captioned by it). Without this a new photo could keep
 * the name of someone hidden at the same moment.
 */
export async function holdCaptionsOf(tx: EntityManager, input: { chestId: string; personIds: readonly string[] }): Promise<string[]> {
  const before = await holdCaptions(tx, { assetIds: await assetsShowing(tx, input.personIds) });
  await lockChestFaces(tx, input.chestId);
  // Photos saved while we waited for the chest (their AI step has committed: their rows are free).
  return holdCaptions(tx, { assetIds: [...before, ...(await assetsShowing(tx, input.personIds))] });
}

/** Locks these memories' rows in id order and returns their ids. */
export async function holdCaptions(tx: EntityManager, input: { assetIds: readonly string[] }): Promise<string[]> {
  const ids = [...new Set(input.assetIds)].sort();
  if (ids.length === 0) return [];
  await tx.execute('select id from asset where id = any(?::uuid[]) order by id for update', [pgArray(ids)]);
  return ids;
}
