import type { EntityManager } from '@mikro-orm/postgresql';
import { ProcessingStatus } from '../../db/enums.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { pgArray } from '../batch.js';

/**
 * Describers whose results are no longer what people see: memories they described get the AI step
 * again, once, from the worker (not one by one through analyseAgain). "pixel-statistics-v1"
 * described photos by their colours; its guesses were cleared by the pixel_captions migration.
 */
export const RETIRED_DESCRIBERS: readonly string[] = ['pixel-statistics-v1'];
/** Memories queued per transaction: a family's whole archive is queued in a few short ones. */
const BATCH = 200;

/**
 * Queues asset.analyse for every processed memory a retired describer described, unless a run is
 * already queued or under way, or the step last gave up on it (recordAnalysisGaveUp: people
 * were told, and retrying at every start would not help). Safe from several workers at once: rows
 * are taken with SKIP LOCKED, and a queued job makes a memory no longer count. Returns how many
 * were queued.
 */
export async function queueStaleAnalyses(deps: { em: EntityManager; queue: JobQueue; describers?: readonly string[] }): Promise<number> {
  const describers = deps.describers ?? RETIRED_DESCRIBERS;
  let queued = 0;
  let after = '00000000-0000-0000-0000-000000000000';
  for (;;) {
    const batch = await deps.em.fork().transactional(async (tx) => {
      const rows = await tx.execute<{ id: string }[]>(
        `select id from asset
         where id > ? and status = ? and deleted_at is null
           and exists (select 1 from jsonb_array_elements(analyses) r where r->>'task' = 'describeImage' and r->>'model' = any(?::text[]))
           and not analyses @> '[{"task": "analyse", "status": "FAILED"}]'::jsonb
         order by id limit ? for update skip locked`,
        [after, ProcessingStatus.COMPLETE, pgArray(describers), BATCH],
      );
      const ids = rows.map((r) => r.id);
      const running = await deps.queue.unfinishedFor('asset.analyse', ids, tx);
      let n = 0;
      for (const id of ids) {
        if (running.has(id)) continue;
        await deps.queue.enqueue(tx, 'asset.analyse', { assetId: id });
        n++;
      }
      return { last: ids.at(-1), n };
    });
    queued += batch.n;
    if (!batch.last) return queued;
    after = batch.last;
  }
}
