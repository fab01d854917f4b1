import { BigIntType, type Opt } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { GraphQLLocalDate } from 'graphql-scalars';
import { Field, GraphQLISODateTime, ObjectType } from 'type-graphql';
import { BaseEntity } from './base.entity.js';
import { Asset } from './asset.entity.js';
import { Story } from './story.entity.js';

export const PERSON_NAME_MAX = 200;
export const DESCRIPTION_MAX = 2000;

/** A memory chest: everything kept about one person. */
@ObjectType({ simpleResolvers: true, description: 'A memory chest: the memories and stories of one person.' })
@Entity({ tableName: 'chest' })
// Listing pages walk (created_at desc, id desc) over live chests.
@Index({ name: 'chest_listing_idx', properties: ['createdAt', 'id'], where: 'deleted_at is null' })
export class Chest extends BaseEntity {
  @Field(() => String, { description: 'The person this chest remembers.' })
  @Property({ type: 'varchar', length: PERSON_NAME_MAX })
  personName!: string;

  @Field(() => String, { nullable: true })
  @Property({ type: 'varchar', length: DESCRIPTION_MAX, nullable: true })
  description: string | null = null;

  @Field(() => GraphQLLocalDate, { nullable: true, description: 'Date of birth (YYYY-MM-DD).' })
  @Property({ type: 'date', nullable: true })
  birthDate: string | null = null;

  @Field(() => GraphQLLocalDate, { nullable: true, description: 'Date of passing (YYYY-MM-DD), if the person has died.' })
  @Property({ type: 'date', nullable: true })
  passingDate: string | null = null;

  /** Exposed through a field resolver so it goes through the loader and the same visibility rules as any asset. */
  @ManyToOne({ entity: () => Asset, nullable: true, deleteRule: 'set null', index: true })
  heroImage: Asset | null = null;

  /** The version owners chose to show (Chest.publishedStory); null until one is published. */
  @ManyToOne({ entity: () => Story, nullable: true, deleteRule: 'set null', index: true })
  publishedStory: Story | null = null;

  @Field(() => Boolean, { description: 'Public chests are readable by anyone; private ones only by their people.' })
  @Property({ type: 'boolean', default: false })
  isPublic: Opt<boolean> = false;

  @Field(() => Boolean, { description: 'Whether guests may send contributions through a contribution link.' })
  @Property({ type: 'boolean', default: false })
  allowContributions: Opt<boolean> = false;

  /** SHA-256 of the view link's token; null when there is no link. The token is shown once. */
  @Property({ type: 'char', length: 64, unique: true, nullable: true })
  shareTokenHash: string | null = null;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'When the view link stops working, if it has an expiry.' })
  @Property({ type: 'timestamptz', nullable: true })
  shareTokenExpiresAt: Date | null = null;

  /**
   * The view link also hands out originals and real file names (createShareLink allowOriginals).
   * Originals may reveal where things were recorded (GPS in photos, videos and recordings), so it
   * is off unless an owner chose it for this link; a new link starts off again.
   */
  @Property({ type: 'boolean', default: false })
  shareAllowsOriginals: Opt<boolean> = false;

  /** SHA-256 of the contribution link's token; null when there is no link. */
  @Property({ type: 'char', length: 64, unique: true, nullable: true })
  contributionTokenHash: string | null = null;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'When the contribution link stops working, if it has an expiry.' })
  @Property({ type: 'timestamptz', nullable: true })
  contributionTokenExpiresAt: Date | null = null;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'Set while the chest is in the bin; restore clears it.' })
  @Property({ type: 'timestamptz', nullable: true })
  deletedAt: Date | null = null;

  /** The last event sequence number handed out for this chest (see chest-event.entity.ts). */
  @Property({ type: new BigIntType('number'), default: 0 })
  eventSeq: Opt<number> = 0;
}
