import type { Opt } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Field, GraphQLISODateTime, ObjectType } from 'type-graphql';
import { ContributionStatus } from '../enums.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';

/** What a guest sent through a contribution link; nobody else sees it before an owner approves it. */
@ObjectType({ simpleResolvers: true, description: 'Memories a guest sent through a contribution link, awaiting review.' })
@Entity({ tableName: 'contribution' })
@Index({ name: 'contribution_chest_status_idx', properties: ['chest', 'status', 'createdAt', 'id'] })
@Index({ name: 'contribution_chest_created_idx', properties: ['chest', 'createdAt', 'id'] })
export class Contribution extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  @Field(() => String)
  @Property({ type: 'varchar', length: 200 })
  contributorName!: string;

  @Field(() => String, { nullable: true, description: 'How the guest knew the person, in their words.' })
  @Property({ type: 'varchar', length: 200, nullable: true })
  relationship: string | null = null;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  message: string | null = null;

  @Field(() => ContributionStatus)
  @Enum({ items: () => ContributionStatus, default: ContributionStatus.PENDING })
  status: Opt<ContributionStatus> = ContributionStatus.PENDING;

  @Field(() => GraphQLISODateTime, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  reviewedAt: Date | null = null;

  @Field(() => String, { nullable: true, description: 'Why an owner rejected it, if they said.' })
  @Property({ type: 'varchar', length: 1000, nullable: true })
  rejectionReason: string | null = null;

  /** SHA-256 of the guest's token, with which they follow the status and attach memories. */
  @Property({ type: 'char', length: 64, unique: true })
  guestTokenHash!: string;
}
