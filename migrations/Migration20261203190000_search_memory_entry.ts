import { Migration } from '@mikro-orm/migrations';

/**
 * Search (domain/search): each memory also gets one MEMORY row holding all its own texts (caption,
 * place, tags, document text, transcript) together, so that words found in different fields of
 * one memory ("grandma whitby": the caption says Grandma, the place Whitby) still find it. The
 * search reports it only when no single field holds all the words.
 */
export class Migration20261203190000_search_memory_entry extends Migration {

  override name = 'Migration20261203190000_search_memory_entry';

  override up(): void | Promise<void> {
    this.addSql(refresh(true));
    this.addSql(`select "search_refresh_asset"("id") from "asset";`);
  }

  override down(): void | Promise<void> {
    this.addSql(refresh(false));
    this.addSql(`delete from "search_entry" where "field" = 'MEMORY';`);
  }

}

function refresh(withMemory: boolean): string {
  const memory = withMemory
    ? `
    union all select 'MEMORY', null, nullif(concat_ws(E'\\n', a."caption", a."place",
        (select string_agg(g->>'name', ', ') from jsonb_array_elements(coalesce(a."tags", '[]')) g),
        left(a."extracted_text", 200000), a."transcription"->>'text'), '')`
    : '';
  return `create or replace function "search_refresh_asset"(id uuid) returns void language plpgsql as $$
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
      where jsonb_array_length(coalesce(a."transcription"->'segments', '[]')) = 0${memory}
  ) t
  where a."id" = $1 and t."text" is not null and btrim(t."text") <> '';
end $$;`;
}
