import type { Opt } from '@mikro-orm/core';
import { BigIntType } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { GraphQLSafeInt } from 'graphql-scalars';
import { Field, GraphQLISODateTime, Int, ObjectType } from 'type-graphql';
import { ExportStatus } from '../enums.js';
import { Account } from './account.entity.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';

/**
 * One ZIP of a whole chest (domain/export): asked for by an owner, written by the chest.export
 * job straight into storage, downloadable until expiresAt, then deleted by the sweep.
 */
@ObjectType({ simpleResolvers: true, description: 'An archive of a whole chest (originals, chest.json, the story, an offline index.html). Owners only.' })
@Entity({ tableName: 'chest_export' })
@Index({ name: 'chest_export_chest_idx', properties: ['chest', 'createdAt'] })
// The sweep deletes finished exports by expiry.
@Index({ name: 'chest_export_expiry_idx', properties: ['expiresAt'] })
export class ChestExport extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  /** The owner who asked; kept when they later leave the account (set null). */
  @ManyToOne({ entity: () => Account, nullable: true, deleteRule: 'set null' })
  requestedBy: Account | null = null;

  @Field(() => Boolean, { description: 'Whether originals keep their GPS and chest.json the coordinates.' })
  @Property({ type: 'boolean' })
  includeLocation!: boolean;

  @Field(() => ExportStatus)
  @Enum({ items: () => ExportStatus, default: ExportStatus.QUEUED })
  status: Opt<ExportStatus> = ExportStatus.QUEUED;

  @Field(() => Int, { description: '0 to 100.' })
  @Property({ type: 'smallint', default: 0 })
  progress: Opt<number> = 0;

  @Field(() => GraphQLSafeInt, { nullable: true, description: 'Size of the ZIP in bytes, once READY.' })
  @Property({ type: new BigIntType('number'), nullable: true })
  bytes: number | null = null;

  /** Generated object key of the ZIP, set when READY; never exposed. */
  @Property({ type: 'text', nullable: true })
  storageKey: string | null = null;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'When the archive is deleted; set when READY.' })
  @Property({ type: 'timestamptz', nullable: true })
  expiresAt: Date | null = null;

  @Field(() => String, { nullable: true, description: 'Why it failed, in words meant for people.' })
  @Property({ type: 'text', nullable: true })
  error: string | null = null;
}
