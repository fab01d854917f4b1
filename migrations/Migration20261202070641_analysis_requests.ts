import { Migration } from '@mikro-orm/migrations';

/**
 * Memories whose AI step runs again because the models changed (AnalysisRequest): those the
 * first local describer (pixel statistics) described, and processed photos and videos the face
 * step never saw (analysed before faces were looked for) or whose blurred copies were made before
 * they carried a placeholder. The worker queues them when it starts.
 */
export class Migration20261202070641_analysis_requests extends Migration {

  override name = 'Migration20261202070641_analysis_requests';

  override up(): void | Promise<void> {
    this.addSql(`create table "analysis_request" ("asset_id" uuid not null, "reason" text not null, "requested_at" timestamptz not null, primary key ("asset_id"));`);
    this.addSql(`insert into "analysis_request" ("asset_id", "reason", "requested_at")
      select "id", 'retired-describer', now() from "asset"
      where "status" = 'COMPLETE' and "deleted_at" is null and "analyses" @> '[{"task": "describeImage", "model": "pixel-statistics-v1"}]'::jsonb
      on conflict do nothing;`);
    this.addSql(`insert into "analysis_request" ("asset_id", "reason", "requested_at")
      select "id", 'faces', now() from "asset"
      where "status" = 'COMPLETE' and "deleted_at" is null and "file_type" in ('IMAGE', 'VIDEO')
        and jsonb_array_length("analyses") > 0 and not "analyses" @> '[{"task": "faces"}]'::jsonb
      on conflict do nothing;`);
    // Blurred copies made before they carried their placeholder: non-members get none until they are remade.
    this.addSql(`insert into "analysis_request" ("asset_id", "reason", "requested_at")
      select "id", 'faces', now() from "asset"
      where "status" = 'COMPLETE' and "deleted_at" is null and "redaction" is not null and "redaction" -> 'placeholder' is null
      on conflict do nothing;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "analysis_request" cascade;`);
  }

}
