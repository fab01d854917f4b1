import type { Opt } from '@mikro-orm/core';
import { Entity, Enum, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Field, Int, ObjectType } from 'type-graphql';
import { ImportStatus } from '../enums.js';
import { Account } from './account.entity.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';
import { Upload } from './upload.entity.js';

/**
 * A chest archive being read into a new chest (domain/import): the chest.import job creates the
 * chest and everything in it in one transaction at the end, so until DONE there is no chest.
 */
@ObjectType({ simpleResolvers: true, description: 'A chest archive being imported into a new chest you own.' })
@Entity({ tableName: 'chest_import' })
export class ChestImport extends BaseEntity {
  /** Who imports: the new chest's owner. */
  @ManyToOne({ entity: () => Account, deleteRule: 'cascade', index: true })
  account!: Account;

  /** The ARCHIVE upload holding the ZIP (its object is deleted once read). */
  @ManyToOne({ entity: () => Upload, nullable: true, deleteRule: 'set null' })
  upload: Upload | null = null;

  /** Generated object key of the ZIP being read; never exposed. */
  @Property({ type: 'text' })
  archiveKey!: string;

  @Field(() => ImportStatus)
  @Enum({ items: () => ImportStatus, default: ImportStatus.QUEUED })
  status: Opt<ImportStatus> = ImportStatus.QUEUED;

  @Field(() => Int, { description: '0 to 100.' })
  @Property({ type: 'smallint', default: 0 })
  progress: Opt<number> = 0;

  @Field(() => Chest, { nullable: true, description: 'The new chest, once DONE.' })
  @ManyToOne({ entity: () => Chest, nullable: true, deleteRule: 'set null' })
  chest: Chest | null = null;

  @Field(() => String, { nullable: true, description: 'Why the archive was refused, a stable code: ARCHIVE_INVALID, ARCHIVE_TOO_LARGE, ARCHIVE_UNSAFE_PATH, ARCHIVE_BOMB, ARCHIVE_FORMAT, ARCHIVE_CORRUPT, IMPORT_FAILED.' })
  @Property({ type: 'varchar', length: 40, nullable: true })
  errorCode: string | null = null;

  @Field(() => String, { nullable: true, description: 'The same, in words meant for people.' })
  @Property({ type: 'text', nullable: true })
  error: string | null = null;
}
