import { Migration } from '@mikro-orm/migrations';

/**
 * A film's faces are searched in frames across it, not only on its poster: Face.atSeconds says
 * which frame a face not on the poster was found in. Films whose faces were looked for on the
 * poster alone get the AI step again (an analysis_request, which the worker queues at start), so
 * someone hidden who is in the film but not in its poster frame withholds it from non-members.
 */
export class Migration20261202071008_face_frame extends Migration {

  override name = 'Migration20261202071008_face_frame';

  override up(): void | Promise<void> {
    this.addSql(`alter table "face" add "at_seconds" real null;`);
    this.addSql(`insert into "analysis_request" ("asset_id", "reason", "requested_at")
      select "id", 'film-frames', now() from "asset"
      where "status" = 'COMPLETE' and "deleted_at" is null and "file_type" = 'VIDEO' and "analyses" @> '[{"task": "faces"}]'::jsonb
      on conflict do nothing;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "face" drop column "at_seconds";`);
  }

}
