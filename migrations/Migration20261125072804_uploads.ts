import { Migration } from '@mikro-orm/migrations';

export class Migration20261125072804_uploads extends Migration {

  override name = 'Migration20261125072804_uploads';

  override up(): void | Promise<void> {
    this.addSql(`create table "upload" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "contribution_id" uuid null, "account_id" uuid null, "filename" varchar(255) not null, "size" bigint not null, "declared_mime" varchar(127) not null, "expected_sha256" char(64) null, "token_hash" char(64) not null, "received_bytes" bigint not null default '0', "parts" int not null default 0, "status" text not null default 'OPEN', "error" text null, "file_type" text null, "sniffed_mime" varchar(127) null, "expires_at" timestamptz not null, "asset_id" uuid null, "duplicate" boolean not null default false, primary key ("id"));`);
    this.addSql(`alter table "upload" add constraint "upload_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "upload_open_expiry_idx" on "upload" ("expires_at") where status = 'OPEN';`);
    this.addSql(`create index "upload_chest_idx" on "upload" ("chest_id", "created_at");`);

    this.addSql(`alter table "upload" add constraint "upload_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "upload" add constraint "upload_contribution_id_foreign" foreign key ("contribution_id") references "contribution" ("id") on delete cascade;`);
    this.addSql(`alter table "upload" add constraint "upload_account_id_foreign" foreign key ("account_id") references "account" ("id") on delete set null;`);
    this.addSql(`alter table "upload" add constraint "upload_asset_id_foreign" foreign key ("asset_id") references "asset" ("id") on delete set null;`);
    this.addSql(`alter table "upload" add constraint "upload_status_check" check ("status" in ('OPEN', 'COMPLETE', 'FAILED'));`);
    this.addSql(`alter table "upload" add constraint "upload_file_type_check" check ("file_type" in ('IMAGE', 'VIDEO', 'AUDIO', 'DOCUMENT'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "upload" cascade;`);
  }

}
