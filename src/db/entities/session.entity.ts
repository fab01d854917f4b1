import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Account } from './account.entity.js';
import { BaseEntity } from './base.entity.js';

/** A signed-in session. Only the SHA-256 of its bearer token is stored. */
@Entity({ tableName: 'session' })
@Index({ name: 'session_account_idx', properties: ['account'] })
export class Session extends BaseEntity {
  @ManyToOne({ entity: () => Account, deleteRule: 'cascade' })
  account!: Account;

  @Property({ type: 'char', length: 64, unique: true })
  tokenHash!: string;

  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Property({ type: 'timestamptz', nullable: true })
  revokedAt: Date | null = null;
}
