import { Migration } from '@mikro-orm/migrations';

export class Migration20261203180931_duplicates extends Migration {

  override name = 'Migration20261203180931_duplicates';

  override up(): void | Promise<void> {
    this.addSql(`create table "duplicate_dismissal" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "first_asset_id" uuid not null, "second_asset_id" uuid not null, "dismissed_by_id" uuid null, primary key ("id"));`);
    this.addSql(`create index "duplicate_dismissal_second_asset_id_index" on "duplicate_dismissal" ("second_asset_id");`);
    this.addSql(`create index "duplicate_dismissal_chest_idx" on "duplicate_dismissal" ("chest_id");`);
    this.addSql(`alter table "duplicate_dismissal" add constraint "duplicate_dismissal_pair_uniq" unique ("first_asset_id", "second_asset_id");`);

    this.addSql(`alter table "asset" add "merged_from" jsonb not null default '[]';`);

    this.addSql(`alter table "duplicate_dismissal" add constraint "duplicate_dismissal_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "duplicate_dismissal" add constraint "duplicate_dismissal_first_asset_id_foreign" foreign key ("first_asset_id") references "asset" ("id") on delete cascade;`);
    this.addSql(`alter table "duplicate_dismissal" add constraint "duplicate_dismissal_second_asset_id_foreign" foreign key ("second_asset_id") references "asset" ("id") on delete cascade;`);
    this.addSql(`alter table "duplicate_dismissal" add constraint "duplicate_dismissal_dismissed_by_id_foreign" foreign key ("dismissed_by_id") references "account" ("id") on delete set null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "duplicate_dismissal" cascade;`);

    this.addSql(`alter table "asset" drop column "merged_from";`);
  }

}
