import { Migration } from '@mikro-orm/migrations';

export class Migration20261201195604_asset_place extends Migration {

  override name = 'Migration20261201195604_asset_place';

  override up(): void | Promise<void> {
    this.addSql(`alter table "asset" add "place" varchar(200) null;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`alter table "asset" drop column "place";`);
  }

}
