import { Migration } from '@mikro-orm/migrations';

/**
 * Data only: transcripts stored before rough ones existed were all whisper's or the API's, so they
 * are not rough and carry no confidence. GraphQL's Transcription.rough is non-null.
 */
export class Migration20261202040411_transcript_rough extends Migration {

  override name = 'Migration20261202040411_transcript_rough';

  override up(): void | Promise<void> {
    this.addSql(`update "asset" set "transcription" = "transcription" || '{"rough": false, "confidence": null}'::jsonb where "transcription" is not null and "transcription" -> 'rough' is null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`update "asset" set "transcription" = "transcription" - 'rough' - 'confidence' where "transcription" is not null;`);
  }

}
