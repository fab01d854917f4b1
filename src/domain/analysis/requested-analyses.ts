import type { EntityManager } from '@mikro-orm/postgresql';
import { ProcessingStatus } from '../../db/enums.js';
import type { JobQueue } from '../../jobs/jobs.port.js';
import { pgArray } from '../batch.js';

/** Requests turned into jobs per transaction: a family's whole archive goes in a few short ones. */
const BATCH = 200;

/**
 * Turns the AI step's standing requests (AnalysisRequest: memories whose models changed under
 * them, written by migrations) into asset.analyse jobs, and removes each request in the same
 * transaction as its job, so a crash between the two loses nothing and queues nothing twice.
 * A memory already queued or under way gets no second job; one deleted, gone or not processed
 * (any more) is dropped. Safe from several workers at once (SKIP LOCKED). Returns how many were
 * queued.
 */
export async function queueRequestedAnalyses(deps: { em: EntityManager; queue: JobQueue }): Promise<number> {
  let queued = 0;
  for (;;) {
    const batch = await deps.em.fork().transactional(async (tx) => {
      const rows = await tx.execute<{ asset_id: string; live: boolean }[]>(
        `select r.asset_id, (a.id is not null and a.status = ? and a.deleted_at is null) as live
         from analysis_request r left join asset a on a.id = r.asset_id
         order by r.requested_at, r.asset_id limit ? for update of r skip locked`,
        [ProcessingStatus.COMPLETE, BATCH],
      );
      if (rows.length === 0) return null;
      const live = rows.filter((r) => r.live).map((r) => r.asset_id);
      const running = await deps.queue.unfinishedFor('asset.analyse', live, tx);
      let n = 0;
      for (const id of live) {
        if (running.has(id)) continue;
        await deps.queue.enqueue(tx, 'asset.analyse', { assetId: id }, { background: true });
        n++;
      }
      await tx.execute('delete from analysis_request where asset_id = any(?::uuid[])', [pgArray(rows.map((r) => r.asset_id))]);
      return n;
    });
    if (batch === null) return queued;
    queued += batch;
  }
}
