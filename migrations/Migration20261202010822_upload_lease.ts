import { Migration } from '@mikro-orm/migrations';

export class Migration20261202010822_upload_lease extends Migration {

  override name = 'Migration20261202010822_upload_lease';

  override up(): void | Promise<void> {
    this.addSql(`alter table "upload" add "lease_token" uuid null, add "lease_until" timestamptz null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "upload" drop column "lease_token", drop column "lease_until";`);
  }

}
