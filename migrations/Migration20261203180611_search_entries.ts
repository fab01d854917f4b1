import { Migration } from '@mikro-orm/migrations';

/**
 * Full-text search (domain/search): search_entry holds every searchable text of a chest with its
 * tsvector (generated, english configuration, GIN index). Triggers rebuild the rows of a chest, a
 * memory, a person or a contribution in the transaction that changes its text, whatever code
 * path wrote it (pipeline steps, edits, imports, duplicate merges); stories are indexed by the
 * application (their text is indexed as read, hidden names rewritten), and those written before
 * this migration when the worker starts (indexStoriesNotIndexed). Who may find a row is decided
 * when searching, never here. Existing rows are indexed at the end.
 */
export class Migration20261203180611_search_entries extends Migration {

  override name = 'Migration20261203180611_search_entries';

  override up(): void | Promise<void> {
    this.addSql(`create table "search_entry" ("id" uuid not null default gen_random_uuid(), "chest_id" uuid not null, "asset_id" uuid null, "person_id" uuid null, "contribution_id" uuid null, "story_id" uuid null, "field" varchar(32) not null, "at_seconds" double precision null, "text" text not null, "tsv" tsvector generated always as (to_tsvector('english', text)) stored null, primary key ("id"));`);
    this.addSql(`create index "search_entry_chest_id_index" on "search_entry" ("chest_id");`);
    this.addSql(`create index "search_entry_asset_id_index" on "search_entry" ("asset_id");`);
    this.addSql(`create index "search_entry_person_id_index" on "search_entry" ("person_id");`);
    this.addSql(`create index "search_entry_contribution_id_index" on "search_entry" ("contribution_id");`);
    this.addSql(`create index "search_entry_story_id_index" on "search_entry" ("story_id");`);
    this.addSql(`create index "search_entry_tsv_idx" on "search_entry" using gin ("tsv");`);

    this.addSql(`alter table "search_entry" add constraint "search_entry_chest_id_foreign" foreign key ("chest_id") references "chest" ("id") on delete cascade;`);
    this.addSql(`alter table "search_entry" add constraint "search_entry_asset_id_foreign" foreign key ("asset_id") references "asset" ("id") on delete cascade;`);
    this.addSql(`alter table "search_entry" add constraint "search_entry_person_id_foreign" foreign key ("person_id") references "person" ("id") on delete cascade;`);
    this.addSql(`alter table "search_entry" add constraint "search_entry_contribution_id_foreign" foreign key ("contribution_id") references "contribution" ("id") on delete cascade;`);
    this.addSql(`alter table "search_entry" add constraint "search_entry_story_id_foreign" foreign key ("story_id") references "story" ("id") on delete cascade;`);

    // One function per source kind: delete its rows, insert them again from its current columns.
    this.addSql(`create function "search_refresh_asset"(id uuid) returns void language plpgsql as $$
begin
  delete from "search_entry" e where e."asset_id" = $1;
  insert into "search_entry" ("chest_id", "asset_id", "field", "at_seconds", "text")
  select a."chest_id", a."id", t."field", t."at_seconds", t."text"
  from "asset" a cross join lateral (
    select 'CAPTION' as "field", null::double precision as "at_seconds", a."caption" as "text"
    union all select 'PLACE', null, a."place"
    union all select 'TAGS', null, (select string_agg(g->>'name', ', ') from jsonb_array_elements(coalesce(a."tags", '[]')) g)
    -- the tsvector of one row holds at most 1 MB: very long documents are indexed by their beginning
    union all select 'DOCUMENT_TEXT', null, left(a."extracted_text", 200000)
    union all select 'TRANSCRIPT', (s->>'start')::double precision, s->>'text'
      from jsonb_array_elements(coalesce(a."transcription"->'segments', '[]')) s
    union all select 'TRANSCRIPT', null, a."transcription"->>'text'
      where jsonb_array_length(coalesce(a."transcription"->'segments', '[]')) = 0
  ) t
  where a."id" = $1 and t."text" is not null and btrim(t."text") <> '';
end $$;`);
    this.addSql(`create function "search_refresh_chest"(id uuid) returns void language plpgsql as $$
begin
  delete from "search_entry" e where e."chest_id" = $1 and e."field" in ('CHEST_NAME', 'CHEST_DESCRIPTION');
  insert into "search_entry" ("chest_id", "field", "text")
  select c."id", t."field", t."text" from "chest" c
  cross join lateral (select 'CHEST_NAME' as "field", c."person_name" as "text" union all select 'CHEST_DESCRIPTION', c."description") t
  where c."id" = $1 and t."text" is not null and btrim(t."text") <> '';
end $$;`);
    this.addSql(`create function "search_refresh_person"(id uuid) returns void language plpgsql as $$
begin
  delete from "search_entry" e where e."person_id" = $1;
  insert into "search_entry" ("chest_id", "person_id", "field", "text")
  select p."chest_id", p."id", 'PERSON', p."name" from "person" p where p."id" = $1 and p."name" is not null and btrim(p."name") <> '';
end $$;`);
    this.addSql(`create function "search_refresh_contribution"(id uuid) returns void language plpgsql as $$
begin
  delete from "search_entry" e where e."contribution_id" = $1;
  insert into "search_entry" ("chest_id", "contribution_id", "field", "text")
  select c."chest_id", c."id", 'MESSAGE', c."message" from "contribution" c where c."id" = $1 and c."message" is not null and btrim(c."message") <> '';
end $$;`);
    this.addSql(`create function "search_asset_changed"() returns trigger language plpgsql as $$ begin perform "search_refresh_asset"(new."id"); return null; end $$;`);
    this.addSql(`create function "search_chest_changed"() returns trigger language plpgsql as $$ begin perform "search_refresh_chest"(new."id"); return null; end $$;`);
    this.addSql(`create function "search_person_changed"() returns trigger language plpgsql as $$ begin perform "search_refresh_person"(new."id"); return null; end $$;`);
    this.addSql(`create function "search_contribution_changed"() returns trigger language plpgsql as $$ begin perform "search_refresh_contribution"(new."id"); return null; end $$;`);
    this.addSql(`create trigger "asset_search_insert" after insert on "asset" for each row execute function "search_asset_changed"();`);
    this.addSql(`create trigger "asset_search_update" after update of "caption", "place", "tags", "extracted_text", "transcription" on "asset" for each row
      when (old."caption" is distinct from new."caption" or old."place" is distinct from new."place" or old."tags" is distinct from new."tags"
        or old."extracted_text" is distinct from new."extracted_text" or old."transcription" is distinct from new."transcription")
      execute function "search_asset_changed"();`);
    this.addSql(`create trigger "chest_search_insert" after insert on "chest" for each row execute function "search_chest_changed"();`);
    this.addSql(`create trigger "chest_search_update" after update of "person_name", "description" on "chest" for each row
      when (old."person_name" is distinct from new."person_name" or old."description" is distinct from new."description")
      execute function "search_chest_changed"();`);
    this.addSql(`create trigger "person_search_insert" after insert on "person" for each row execute function "search_person_changed"();`);
    this.addSql(`create trigger "person_search_update" after update of "name" on "person" for each row
      when (old."name" is distinct from new."name") execute function "search_person_changed"();`);
    this.addSql(`create trigger "contribution_search_insert" after insert on "contribution" for each row execute function "search_contribution_changed"();`);
    this.addSql(`create trigger "contribution_search_update" after update of "message" on "contribution" for each row
      when (old."message" is distinct from new."message") execute function "search_contribution_changed"();`);

    // What exists already (stories: when the worker starts).
    this.addSql(`select "search_refresh_chest"("id") from "chest";`);
    this.addSql(`select "search_refresh_asset"("id") from "asset";`);
    this.addSql(`select "search_refresh_person"("id") from "person";`);
    this.addSql(`select "search_refresh_contribution"("id") from "contribution";`);
  }

  override down(): void | Promise<void> {
    for (const table of ['asset', 'chest', 'person', 'contribution']) {
      this.addSql(`drop trigger if exists "${table}_search_insert" on "${table}";`);
      this.addSql(`drop trigger if exists "${table}_search_update" on "${table}";`);
      this.addSql(`drop function if exists "search_${table}_changed"();`);
      this.addSql(`drop function if exists "search_refresh_${table}"(uuid);`);
    }
    this.addSql(`drop table if exists "search_entry" cascade;`);
  }

}
