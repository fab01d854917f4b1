import { Migration } from '@mikro-orm/migrations';

export class Migration20261202003421_nonmember_previews extends Migration {

  override name = 'Migration20261202003421_nonmember_previews';

  override up(): void | Promise<void> {
    this.addSql(`alter table "chest" add "share_allows_originals" boolean not null default false;`);

    this.addSql(`alter table "asset" add "preview" jsonb null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "asset" drop column "preview";`);

    this.addSql(`alter table "chest" drop column "share_allows_originals";`);
  }

}
