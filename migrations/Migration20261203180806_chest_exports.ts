import { Migration } from '@mikro-orm/migrations';

export class Migration20261203180806_chest_exports extends Migration {

  override name = 'Migration20261203180806_chest_exports';

  override up(): void | Promise<void> {
    this.addSql(`create table "chest_export" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "requested_by_id" uuid null, "include_location" boolean not null, "status" text not null default 'QUEUED', "progress" smallint not null default 0, "bytes" bigint null, "storage_key" text null, "expires_at" timestamptz null, "error" text null, primary key ("id"));`);
    this.addSql(`create index "chest_export_expiry_idx" on "chest_export" ("expires_at");`);
    this.addSql(`create index "chest_export_chest_idx" on "chest_export" ("chest_id", "created_at");`);

    this.addSql(`alter table "chest_export" add constraint "chest_export_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "chest_export" add constraint "chest_export_requested_by_id_foreign" foreign key ("requested_by_id") references "account" ("id") on delete set null;`);
    this.addSql(`alter table "chest_export" add constraint "chest_export_status_check" check ("status" in ('QUEUED', 'RUNNING', 'READY', 'FAILED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "chest_export" cascade;`);
  }

}
