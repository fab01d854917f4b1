import { Migration } from '@mikro-orm/migrations';

export class Migration20261202041704_people extends Migration {

  override name = 'Migration20261202041704_people';

  override up(): void | Promise<void> {
    this.addSql(`create table "person" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "chest_id" uuid not null, "name" varchar(100) null, "hidden" boolean not null default false, "cover_face_id" uuid null, primary key ("id"));`);
    this.addSql(`create index "person_chest_idx" on "person" ("chest_id", "created_at", "id");`);

    this.addSql(`create table "face" ("id" uuid not null, "created_at" timestamptz not null, "updated_at" timestamptz not null, "asset_id" uuid not null, "chest_id" uuid not null, "person_id" uuid null, "box" jsonb not null, "score" real not null, "descriptor" bytea not null, "assigned_by_person" boolean not null default false, "crop_key" text null, primary key ("id"));`);
    this.addSql(`create index "face_asset_id_index" on "face" ("asset_id");`);
    this.addSql(`create index "face_person_id_index" on "face" ("person_id");`);
    this.addSql(`create index "face_chest_person_idx" on "face" ("chest_id", "person_id");`);

    this.addSql(`alter table "asset" add "redaction" jsonb null;`);

    this.addSql(`alter table "person" add constraint "person_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);

    this.addSql(`alter table "face" add constraint "face_asset_id_foreign" foreign key ("asset_id") references "asset" ("id") on delete cascade;`);
    this.addSql(`alter table "face" add constraint "face_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "face" add constraint "face_person_id_foreign" foreign key ("person_id") references "person" ("id") on delete set null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "face" drop constraint "face_person_id_foreign";`);

    this.addSql(`drop table if exists "person" cascade;`);
    this.addSql(`drop table if exists "face" cascade;`);

    this.addSql(`alter table "asset" drop column "redaction";`);
  }

}
