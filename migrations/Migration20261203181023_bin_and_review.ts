import { Migration } from '@mikro-orm/migrations';

export class Migration20261203181023_bin_and_review extends Migration {

  override name = 'Migration20261203181023_bin_and_review';

  override up(): void | Promise<void> {
    this.addSql(`alter table "asset" add "approved_at" timestamptz null, add "added_by_id" uuid null, add "deleted_by_id" uuid null;`);
    this.addSql(`alter table "asset" add constraint "asset_added_by_id_foreign" foreign key ("added_by_id") references "account" ("id") on delete set null;`);
    this.addSql(`alter table "asset" add constraint "asset_deleted_by_id_foreign" foreign key ("deleted_by_id") references "account" ("id") on delete set null;`);
    this.addSql(`create index "asset_added_by_id_index" on "asset" ("added_by_id");`);
    this.addSql(`create index "asset_chest_bin_idx" on "asset" ("chest_id", "deleted_at" desc, "id" desc) where deleted_at is not null;`);
    // Who added the memories that exist: the member whose upload created each one (not an upload
    // that only found a duplicate of it). Guests' memories and uploads whose account is gone stay null.
    this.addSql(`update "asset" a set "added_by_id" = u."account_id" from "upload" u
      where u."asset_id" = a."id" and u."account_id" is not null and u."duplicate" = false and a."contribution_id" is null
        and u."created_at" = (select min(u2."created_at") from "upload" u2 where u2."asset_id" = a."id" and u2."account_id" is not null and u2."duplicate" = false);`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "asset" drop constraint "asset_added_by_id_foreign";`);
    this.addSql(`alter table "asset" drop constraint "asset_deleted_by_id_foreign";`);

    this.addSql(`drop index "asset_added_by_id_index";`);
    this.addSql(`drop index "asset_chest_bin_idx";`);
    this.addSql(`alter table "asset" drop column "approved_at", drop column "added_by_id", drop column "deleted_by_id";`);
  }

}
