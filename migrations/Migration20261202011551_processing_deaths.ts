import { Migration } from '@mikro-orm/migrations';

export class Migration20261202011551_processing_deaths extends Migration {

  override name = 'Migration20261202011551_processing_deaths';

  override up(): void | Promise<void> {
    this.addSql(`alter table "asset" add "processing_deaths" smallint not null default 0;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "asset" drop column "processing_deaths";`);
  }

}
