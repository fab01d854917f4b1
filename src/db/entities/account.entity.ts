import { Entity, Property } from '@mikro-orm/decorators/legacy';
import { Field, ObjectType } from 'type-graphql';
import { BaseEntity } from './base.entity.js';

/** A person who signs in. Email is stored lower-cased and is unique. */
@ObjectType({ simpleResolvers: true, description: 'A signed-in person.' })
@Entity({ tableName: 'account' })
export class Account extends BaseEntity {
  @Field(() => String)
  @Property({ type: 'varchar', length: 254, unique: true })
  email!: string;

  @Field(() => String)
  @Property({ type: 'varchar', length: 100 })
  displayName!: string;

  /** argon2id PHC string; never leaves the server. */
  @Property({ type: 'text' })
  passwordHash!: string;
}
