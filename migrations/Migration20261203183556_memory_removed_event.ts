import { Migration } from '@mikro-orm/migrations';

export class Migration20261203183556_memory_removed_event extends Migration {

  override name = 'Migration20261203183556_memory_removed_event';

  override up(): void | Promise<void> {
    this.addSql(`alter table "chest_event" drop constraint "chest_event_kind_check";`);
    this.addSql(`alter table "chest_event" add constraint "chest_event_kind_check" check ("kind" in ('ASSET_PROCESSING', 'MEMORY_ADDED', 'MEMORY_REMOVED', 'STORY_READY', 'CONTRIBUTION_SUBMITTED'));`);
  }

  override down(): void | Promise<void> {
    // Removal events are dropped with the kind: the log only serves catch-up of recent events.
    this.addSql(`delete from "chest_event" where "kind" = 'MEMORY_REMOVED';`);
    this.addSql(`alter table "chest_event" drop constraint "chest_event_kind_check";`);
    this.addSql(`alter table "chest_event" add constraint "chest_event_kind_check" check ("kind" in ('ASSET_PROCESSING', 'MEMORY_ADDED', 'STORY_READY', 'CONTRIBUTION_SUBMITTED'));`);
  }

}
