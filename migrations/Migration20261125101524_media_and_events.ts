import { Migration } from '@mikro-orm/migrations';

export class Migration20261125101524_media_and_events extends Migration {

  override name = 'Migration20261125101524_media_and_events';

  override up(): void | Promise<void> {
    this.addSql(`create table "chest_event" ("chest_id" uuid not null, "seq" bigint not null, "kind" text not null, "asset_id" uuid null, "story_id" uuid null, "contribution_id" uuid null, "data" jsonb null, "created_at" timestamptz not null, primary key ("chest_id", "seq"));`);

    this.addSql(`alter table "chest" add "event_seq" bigint not null default '0';`);

    this.addSql(`alter table "asset" add "processing_stage" varchar(32) null, add "processing_attempts" smallint not null default 0, add "processed_at" timestamptz null, add "width" int null, add "height" int null, add "duration_seconds" double precision null, add "placeholder" varchar(64) null, add "perceptual_hash" char(16) null, add "waveform" jsonb null, add "media_info" jsonb null;`);

    this.addSql(`alter table "chest_event" add constraint "chest_event_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "chest_event" add constraint "chest_event_kind_check" check ("kind" in ('ASSET_PROCESSING', 'MEMORY_ADDED', 'STORY_READY', 'CONTRIBUTION_SUBMITTED'));`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "chest_event" cascade;`);

    this.addSql(`alter table "asset" drop column "processing_stage", drop column "processing_attempts", drop column "processed_at", drop column "width", drop column "height", drop column "duration_seconds", drop column "placeholder", drop column "perceptual_hash", drop column "waveform", drop column "media_info";`);

    this.addSql(`alter table "chest" drop column "event_seq";`);
  }

}
