import { Entity, Enum, Index, ManyToOne, Unique } from '@mikro-orm/decorators/legacy';
import { Field, ObjectType } from 'type-graphql';
import { ChestRole } from '../enums.js';
import { Account } from './account.entity.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';

/** A person's role in a chest. Every chest keeps at least one OWNER. */
@ObjectType({ simpleResolvers: true, description: "A person's role in a chest." })
@Entity({ tableName: 'membership' })
@Unique({ name: 'membership_chest_account_unique', properties: ['chest', 'account'] })
// "My chests" lists walk memberships by account.
@Index({ name: 'membership_account_idx', properties: ['account', 'createdAt'] })
export class Membership extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  @Field(() => Account)
  @ManyToOne({ entity: () => Account, deleteRule: 'cascade' })
  account!: Account;

  @Field(() => ChestRole)
  @Enum({ items: () => ChestRole })
  role!: ChestRole;
}
