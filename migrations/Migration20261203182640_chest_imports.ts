import { Migration } from '@mikro-orm/migrations';

export class Migration20261203182640_chest_imports extends Migration {

  override name = 'Migration20261203182640_chest_imports';

  override up(): void | Promise<void> {
    this.addSql(`create table "chest_import" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "account_id" uuid not null, "upload_id" uuid null, "archive_key" text not null, "status" text not null default 'QUEUED', "progress" smallint not null default 0, "chest_id" uuid null, "error_code" varchar(40) null, "error" text null, primary key ("id"));`);
    this.addSql(`create index "chest_import_account_id_index" on "chest_import" ("account_id");`);

    this.addSql(`alter table "upload" add "purpose" text not null default 'MEMORY';`);
    this.addSql(`alter table "upload" alter column "chest_id" drop not null;`);
    this.addSql(`alter table "upload" add constraint "upload_purpose_check" check ("purpose" in ('MEMORY', 'ARCHIVE'));`);

    this.addSql(`alter table "chest_import" add constraint "chest_import_account_id_foreign" foreign key ("account_id") references "account" ("id") on delete cascade;`);
    this.addSql(`alter table "chest_import" add constraint "chest_import_upload_id_foreign" foreign key ("upload_id") references "upload" ("id") on delete set null;`);
    this.addSql(`alter table "chest_import" add constraint "chest_import_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete set null;`);
    this.addSql(`alter table "chest_import" add constraint "chest_import_status_check" check ("status" in ('QUEUED', 'RUNNING', 'DONE', 'FAILED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "chest_import" cascade;`);
    this.addSql(`delete from "upload" where "chest_id" is null;`);
    this.addSql(`alter table "upload" drop constraint if exists "upload_purpose_check";`);
    this.addSql(`alter table "upload" drop column "purpose";`);
    this.addSql(`alter table "upload" alter column "chest_id" set not null;`);
  }

}
