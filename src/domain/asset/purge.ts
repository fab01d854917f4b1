import type { EntityManager } from '@mikro-orm/postgresql';
import type { StorageBackend } from '../../storage/storage.port.js';
import { pgArray } from '../batch.js';
import { derivativePrefix } from '../processing/derivatives.js';

/** What purgeAssets erased: the memories' ids, and the storage objects removed with them. */
export interface PurgeReport {
  assetIds: string[];
  objectsRemoved: number;
  /** Memories whose bytes could not all be removed now (storage down): the sweep removes them later. */
  leftForSweep: number;
}

export interface PurgeInput {
  /** Which memories; those not matching `where` are left alone. */
  assetIds: readonly string[];
  /** The only memories these ids may name: binned ones of a chest (purgeMemory, emptyBin) or the still waiting ones of a pending contribution (rejectContributionMemory). */
  where: { chestId: string; binned: true } | { chestId: string; waitingIn: string };
}

/**
 * Erases memories for good: their rows (faces, search entries and duplicate dismissals cascade
 * with them; people left with no face go too, unless hidden), then their bytes (the original, and everything
 * under the asset's derivatives prefix: thumbnails, posters, previews, blurred copies, face crops).
 *
 * Rows first, in one transaction: a row never points at bytes that are gone, so nobody (the bin,
 * a download link, a job) meets a memory without its file. Bytes second: if that step fails or the
 * process dies, the objects are left with no row naming them, which is exactly what the sweeper
 * (domain/upload/sweeper.ts) removes after its grace period, so nothing stays forever. Nothing
 * recreates a row: the sweeper only deletes, and a queued job finds no row and stops.
 */
export async function purgeAssets(em: EntityManager, storage: StorageBackend, input: PurgeInput): Promise<PurgeReport> {
  if (input.assetIds.length === 0) return { assetIds: [], objectsRemoved: 0, leftForSweep: 0 };
  const where = scope(input.where);
  const gone = await em.transactional(async (tx) => {
    // A whole approval of the contribution waits for this (it updates the row locked here), or this sees it.
    if (where.contributionId) await tx.execute('select id from contribution where id = ? for update', [where.contributionId]);
    const rows = await tx.execute<{ id: string; chest_id: string; storage_key: string }[]>(
      `select a.id, a.chest_id, a.storage_key from asset a where a.id = any(?::uuid[]) and ${where.sql} order by a.id for update`,
      [pgArray(input.assetIds), ...where.params],
    );
    if (rows.length === 0) return [];
    const ids = pgArray(rows.map((r) => r.id));
    const people = await tx.execute<{ person_id: string }[]>('select distinct person_id from face where asset_id = any(?::uuid[]) and person_id is not null', [ids]);
    await tx.execute('update chest set hero_image_id = null where hero_image_id = any(?::uuid[])', [ids]);
    await tx.execute('delete from asset where id = any(?::uuid[])', [ids]);
    if (people.length) {
      const personIds = pgArray(people.map((p) => p.person_id));
      // A person is a group of faces: one whose every face was in these memories is gone with them,
      // except one who asked to be hidden: that consent must still hold for photos added later.
      await tx.execute('delete from person p where p.id = any(?::uuid[]) and not p.hidden and not exists (select 1 from face f where f.person_id = p.id)', [personIds]);
      // A cover face that went: the person's earliest remaining face with a crop stands in.
      await tx.execute(
        `update person p set cover_face_id = (select f.id from face f where f.person_id = p.id order by f.crop_key is null, f.created_at, f.id limit 1)
         where p.id = any(?::uuid[]) and p.cover_face_id is not null and not exists (select 1 from face f where f.id = p.cover_face_id)`,
        [personIds],
      );
    }
    return rows;
  });
  let objectsRemoved = 0;
  let leftForSweep = 0;
  // Keys are made per asset (originals/<asset id>); checked anyway (one statement for the batch), since the sweeper keeps an original any row names.
  const stillNamed = gone.length
    ? new Set((await em.execute<{ storage_key: string }[]>('select distinct storage_key from asset where storage_key = any(?::text[])', [pgArray(gone.map((r) => r.storage_key))])).map((r) => r.storage_key))
    : new Set<string>();
  for (const row of gone) {
    try {
      if (!stillNamed.has(row.storage_key)) {
        await storage.delete(row.storage_key);
        objectsRemoved++;
      }
      for await (const obj of storage.list(derivativePrefix({ id: row.id, chest: { id: row.chest_id } }))) {
        await storage.delete(obj.key);
        objectsRemoved++;
      }
    } catch {
      // The rows are gone already: what is left has no row naming it, and the sweep removes it.
      leftForSweep++;
    }
  }
  return { assetIds: gone.map((r) => r.id), objectsRemoved, leftForSweep };
}

/** The rows a purge may take, as SQL on `asset a`, and the contribution to lock first (if any). */
function scope(where: PurgeInput['where']): { sql: string; params: unknown[]; contributionId?: string } {
  if ('binned' in where) return { sql: 'a.chest_id = ? and a.deleted_at is not null', params: [where.chestId] };
  return {
    sql: `a.chest_id = ? and a.contribution_id = ? and a.deleted_at is null and a.approved_at is null
      and exists (select 1 from contribution c where c.id = a.contribution_id and c.status = 'PENDING')`,
    params: [where.chestId, where.waitingIn],
    contributionId: where.waitingIn,
  };
}
