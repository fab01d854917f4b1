import { Migration } from '@mikro-orm/migrations';

export class Migration20261125110112_ai_and_stories extends Migration {

  override name = 'Migration20261125110112_ai_and_stories';

  override up(): void | Promise<void> {
    this.addSql(`alter table "chest" add "published_story_id" uuid null;`);
    this.addSql(`alter table "chest" add constraint "chest_published_story_id_foreign" foreign key ("published_story_id") references "story" ("id") on delete set null;`);
    this.addSql(`create index "chest_published_story_id_index" on "chest" ("published_story_id");`);

    this.addSql(`alter table "story" add "paragraphs" jsonb not null default '[]', add "lineage_id" uuid null, add "edited_by" uuid null, add "include_timeline" boolean not null default true, add "include_themes" boolean not null default true;`);
    this.addSql(`create index "story_lineage_id_index" on "story" ("lineage_id");`);

    this.addSql(`alter table "asset" add "analyses" jsonb not null default '[]';`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "chest" drop constraint "chest_published_story_id_foreign";`);

    this.addSql(`alter table "asset" drop column "analyses";`);

    this.addSql(`drop index "chest_published_story_id_index";`);
    this.addSql(`alter table "chest" drop column "published_story_id";`);

    this.addSql(`drop index "story_lineage_id_index";`);
    this.addSql(`alter table "story" drop column "paragraphs", drop column "lineage_id", drop column "edited_by", drop column "include_timeline", drop column "include_themes";`);
  }

}
