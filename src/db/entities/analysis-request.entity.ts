import type { Opt } from '@mikro-orm/core';
import { Entity, PrimaryKey, Property } from '@mikro-orm/decorators/legacy';

/**
 * A memory whose AI step should run again because the models changed under it, not because
 * anyone asked (analyseAgain is for that). Migrations that change what the AI step finds insert
 * rows here (the memories the first local describer described; those analysed before faces were
 * looked for); the worker turns them into asset.analyse jobs when it starts
 * (domain/analysis/requested-analyses.ts) and removes them in the same transaction. No foreign
 * key: a row whose memory is gone is simply dropped.
 */
@Entity({ tableName: 'analysis_request' })
export class AnalysisRequest {
  @PrimaryKey({ type: 'uuid' })
  assetId!: string;

  /** Why it runs again, for logs ("retired-describer", "faces"). */
  @Property({ type: 'text' })
  reason!: string;

  @Property({ type: 'timestamptz' })
  requestedAt: Opt<Date> = new Date();
}
