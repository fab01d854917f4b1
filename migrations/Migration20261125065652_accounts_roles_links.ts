import { Migration } from '@mikro-orm/migrations';

export class Migration20261125065652_accounts_roles_links extends Migration {

  override name = 'Migration20261125065652_accounts_roles_links';

  override up(): void | Promise<void> {
    this.addSql(`create table "account" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "email" varchar(254) not null, "display_name" varchar(100) not null, "password_hash" text not null, primary key ("id"));`);
    this.addSql(`alter table "account" add constraint "account_email_unique" unique ("email");`);

    this.addSql(`create table "membership" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "account_id" uuid not null, "role" text not null, primary key ("id"));`);
    this.addSql(`create index "membership_account_idx" on "membership" ("account_id", "created_at");`);
    this.addSql(`alter table "membership" add constraint "membership_chest_account_unique" unique ("chest_id", "account_id");`);

    this.addSql(`create table "session" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "account_id" uuid not null, "token_hash" char(64) not null, "expires_at" timestamptz not null, "revoked_at" timestamptz null, primary key ("id"));`);
    this.addSql(`alter table "session" add constraint "session_token_hash_unique" unique ("token_hash");`);
    this.addSql(`create index "session_account_idx" on "session" ("account_id");`);

    // Rows from before this migration get unguessable placeholder hashes, then the columns tighten.
    this.addSql(`alter table "contribution" add "rejection_reason" varchar(1000) null, add "guest_token_hash" char(64) null, add "client_hash" char(64) null;`);
    this.addSql(`update "contribution" set "guest_token_hash" = encode(sha256(convert_to(gen_random_uuid()::text || id::text, 'UTF8')), 'hex'), "client_hash" = repeat('0', 64) where "guest_token_hash" is null;`);
    this.addSql(`alter table "contribution" alter column "guest_token_hash" set not null, alter column "client_hash" set not null;`);
    this.addSql(`alter table "contribution" add constraint "contribution_guest_token_hash_unique" unique ("guest_token_hash");`);
    this.addSql(`create index "contribution_rate_idx" on "contribution" ("chest_id", "client_hash", "created_at");`);

    this.addSql(`alter table "chest" add "share_token_expires_at" timestamptz null, add "contribution_token_hash" char(64) null, add "contribution_token_expires_at" timestamptz null;`);
    this.addSql(`alter table "chest" alter column "share_token_hash" drop not null;`);
    this.addSql(`alter table "chest" add constraint "chest_contribution_token_hash_unique" unique ("contribution_token_hash");`);

    this.addSql(`alter table "membership" add constraint "membership_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "membership" add constraint "membership_account_id_foreign" foreign key ("account_id") references "account" ("id") on delete cascade;`);
    this.addSql(`alter table "membership" add constraint "membership_role_check" check ("role" in ('OWNER', 'EDITOR', 'VIEWER'));`);

    this.addSql(`alter table "session" add constraint "session_account_id_foreign" foreign key ("account_id") references "account" ("id") on delete cascade;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "membership" drop constraint "membership_account_id_foreign";`);
    this.addSql(`alter table "session" drop constraint "session_account_id_foreign";`);

    this.addSql(`drop table if exists "account" cascade;`);
    this.addSql(`drop table if exists "membership" cascade;`);
    this.addSql(`drop table if exists "session" cascade;`);

    this.addSql(`alter table "chest" drop constraint "chest_contribution_token_hash_unique";`);
    this.addSql(`alter table "chest" drop column "share_token_expires_at", drop column "contribution_token_hash", drop column "contribution_token_expires_at";`);
    this.addSql(`alter table "chest" alter column "share_token_hash" set not null;`);

    this.addSql(`alter table "contribution" drop constraint "contribution_guest_token_hash_unique";`);
    this.addSql(`drop index "contribution_rate_idx";`);
    this.addSql(`alter table "contribution" drop column "rejection_reason", drop column "guest_token_hash", drop column "client_hash";`);
  }

}
