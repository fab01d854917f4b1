import { Migration } from '@mikro-orm/migrations';

export class Migration20261203151730_upload_staging_run extends Migration {

  override name = 'Migration20261203151730_upload_staging_run';

  override up(): void | Promise<void> {
    this.addSql(`alter table "upload" add "staging_run" varchar(64) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "upload" drop column "staging_run";`);
  }

}
