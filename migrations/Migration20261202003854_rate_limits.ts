import { Migration } from '@mikro-orm/migrations';

export class Migration20261202003854_rate_limits extends Migration {

  override name = 'Migration20261202003854_rate_limits';

  override up(): void | Promise<void> {
    this.addSql(`create table "rate_limit" ("key" char(64) not null, "hits" int not null, "window_ends_at" timestamptz not null, "last_hit_at" timestamptz not null, primary key ("key"));`);
    this.addSql(`create index "rate_limit_window_idx" on "rate_limit" ("window_ends_at");`);

    // Contribution limits are counted by the rate limiter now; the per-row client hash served only them.
    this.addSql(`drop index "contribution_rate_idx";`);
    this.addSql(`alter table "contribution" drop column "client_hash";`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop table if exists "rate_limit" cascade;`);

    this.addSql(`alter table "contribution" add "client_hash" char(64) not null default repeat('0', 64);`);
    this.addSql(`create index "contribution_rate_idx" on "contribution" ("chest_id", "client_hash", "created_at");`);
  }

}
