import { Migration } from '@mikro-orm/migrations';

/**
 * Data only: memories the first local describer (model "pixel-statistics-v1") described carry its
 * guesses from pixel statistics as AI tags ("yellow", "landscape", "1980s", "summer") and as a
 * caption ("A mostly yellow photograph from the 1980s, taken in summer."). Those are no longer
 * things a person sees (issue 12): its AI tags go, except "document", which the page-of-text check
 * still makes and OCR relies on, and so does its caption, told from a person's by its fixed shape
 * (that describer's records did not note the caption they wrote). What people wrote, EXIF and
 * keyword tags stay. The next migration asks the worker to run the AI step again on them
 * (analysis_request).
 * Not reversible: the guesses were wrong, not lost.
 */
export class Migration20261202065700_pixel_captions extends Migration {

  override name = 'Migration20261202065700_pixel_captions';

  override up(): void | Promise<void> {
    this.addSql(`update "asset" set
      "tags" = coalesce((select jsonb_agg(e.t order by e.o) from jsonb_array_elements("asset"."tags") with ordinality as e(t, o)
                         where not (e.t->>'source' = 'AI' and e.t->>'name' <> 'document')), '[]'::jsonb),
      "caption" = case when "caption" ~ '^(A page of text(, captured in the [0-9]{4}s)?|An? ([a-z-]+ )*photograph( from the [0-9]{4}s)?(,? taken in (winter|spring|summer|autumn))?)\\.$' then null else "caption" end
      where "analyses" @> '[{"task": "describeImage", "model": "pixel-statistics-v1"}]'::jsonb;`);
  }

  override down(): void | Promise<void> {}

}
