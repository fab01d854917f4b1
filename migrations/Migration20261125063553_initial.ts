import { Migration } from '@mikro-orm/migrations';

export class Migration20261125063553_initial extends Migration {

  override name = 'Migration20261125063553_initial';

  override up(): void | Promise<void> {
    this.addSql(`create table "contribution" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "contributor_name" varchar(200) not null, "relationship" varchar(200) null, "message" text null, "status" text not null default 'PENDING', "reviewed_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "contribution_chest_created_idx" on "contribution" ("chest_id", "created_at", "id");`);
    this.addSql(`create index "contribution_chest_status_idx" on "contribution" ("chest_id", "status", "created_at", "id");`);

    this.addSql(`create table "chest" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "person_name" varchar(200) not null, "description" varchar(2000) null, "birth_date" date null, "passing_date" date null, "hero_image_id" uuid null, "is_public" boolean not null default false, "allow_contributions" boolean not null default false, "share_token_hash" char(64) not null, "deleted_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "chest_hero_image_id_index" on "chest" ("hero_image_id");`);
    this.addSql(`alter table "chest" add constraint "chest_share_token_hash_unique" unique ("share_token_hash");`);
    this.addSql(`create index "chest_listing_idx" on "chest" ("created_at", "id") where deleted_at is null;`);

    this.addSql(`create table "asset" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "contribution_id" uuid null, "filename" varchar(255) not null, "storage_key" text not null, "file_type" text not null, "size" bigint not null, "mime_type" varchar(127) not null, "sha256" char(64) not null, "status" text not null default 'PENDING', "progress" smallint not null default 0, "processing_error" text null, "date_taken" timestamptz null, "location" jsonb null, "thumbnails" jsonb not null default '[]', "transcription" jsonb null, "extracted_text" text null, "tags" jsonb not null default '[]', "caption" text null, "deleted_at" timestamptz null, primary key ("id"));`);
    this.addSql(`create index "asset_contribution_id_index" on "asset" ("contribution_id");`);
    this.addSql(`create index "asset_chest_sha256_idx" on "asset" ("chest_id", "sha256");`);
    this.addSql(`create index "asset_chest_status_idx" on "asset" ("chest_id", "status") where deleted_at is null;`);
    this.addSql(`create index "asset_chest_type_idx" on "asset" ("chest_id", "file_type") where deleted_at is null;`);
    this.addSql(`create index "asset_chest_timeline_idx" on "asset" ("chest_id", "date_taken" desc nulls last, "created_at" desc, "id" desc) where deleted_at is null;`);

    this.addSql(`create table "story" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "title" varchar(300) not null, "content" text not null default '', "style" text not null, "status" text not null default 'GENERATING', "error" text null, "timeline" jsonb not null default '[]', "themes" jsonb not null default '[]', "generation" jsonb null, "version" int not null default 1, "published" boolean not null default false, primary key ("id"));`);
    this.addSql(`create index "story_chest_created_idx" on "story" ("chest_id", "created_at", "id");`);

    this.addSql(`alter table "contribution" add constraint "contribution_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "contribution" add constraint "contribution_status_check" check ("status" in ('PENDING', 'APPROVED', 'REJECTED'));`);

    this.addSql(`alter table "chest" add constraint "chest_hero_image_id_foreign" foreign key ("hero_image_id") references "asset" ("id") on delete set null;`);

    this.addSql(`alter table "asset" add constraint "asset_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "asset" add constraint "asset_contribution_id_foreign" foreign key ("contribution_id") references "contribution" ("id") on delete set null;`);
    this.addSql(`alter table "asset" add constraint "asset_file_type_check" check ("file_type" in ('IMAGE', 'VIDEO', 'AUDIO', 'DOCUMENT'));`);
    this.addSql(`alter table "asset" add constraint "asset_status_check" check ("status" in ('PENDING', 'PROCESSING', 'COMPLETE', 'FAILED'));`);

    this.addSql(`alter table "story" add constraint "story_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "story" add constraint "story_style_check" check ("style" in ('COMPREHENSIVE', 'BRIEF', 'FOR_CHILDREN', 'EULOGY'));`);
    this.addSql(`alter table "story" add constraint "story_status_check" check ("status" in ('GENERATING', 'READY', 'FAILED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "asset" drop constraint "asset_contribution_id_foreign";`);
    this.addSql(`alter table "contribution" drop constraint "contribution_chest_id_foreign";`);
    this.addSql(`alter table "asset" drop constraint "asset_chest_id_foreign";`);
    this.addSql(`alter table "story" drop constraint "story_chest_id_foreign";`);
    this.addSql(`alter table "chest" drop constraint "chest_hero_image_id_foreign";`);

    this.addSql(`drop table if exists "contribution" cascade;`);
    this.addSql(`drop table if exists "chest" cascade;`);
    this.addSql(`drop table if exists "asset" cascade;`);
    this.addSql(`drop table if exists "story" cascade;`);
  }

}
