import type { Opt } from '@mikro-orm/core';
import { BigIntType } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { GraphQLSafeInt } from 'graphql-scalars';
import { Field, GraphQLISODateTime, ObjectType } from 'type-graphql';
import { FileType, UploadPurpose, UploadStatus } from '../enums.js';
import { Account } from './account.entity.js';
import { Asset } from './asset.entity.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';
import { Contribution } from './contribution.entity.js';

/**
 * One file on its way in. Bytes arrive in resumable PATCH requests and are stored once, as staging
 * parts named by their offset; after the last byte the parts become the original (without a copy
 * where the storage can), its SHA-256 is checked and the asset is created. receivedBytes only
 * counts parts already safe in storage.
 */
@ObjectType({ simpleResolvers: true, description: 'A file being uploaded.' })
@Entity({ tableName: 'upload' })
@Index({ name: 'upload_chest_idx', properties: ['chest', 'createdAt'] })
// The sweeper walks open uploads by expiry.
@Index({ name: 'upload_open_expiry_idx', properties: ['expiresAt'], where: "status = 'OPEN'" })
export class Upload extends BaseEntity {
  /** The chest the memory goes into; null for an ARCHIVE, which belongs to its account only. */
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade', nullable: true })
  chest: Chest | null = null;

  @Field(() => UploadPurpose)
  @Enum({ items: () => UploadPurpose, default: UploadPurpose.MEMORY })
  purpose: Opt<UploadPurpose> = UploadPurpose.MEMORY;

  /** Set when a guest uploads for their contribution. */
  @ManyToOne({ entity: () => Contribution, nullable: true, deleteRule: 'cascade' })
  contribution: Contribution | null = null;

  /** Set when a member uploads. */
  @ManyToOne({ entity: () => Account, nullable: true, deleteRule: 'set null' })
  account: Account | null = null;

  @Field(() => String)
  @Property({ type: 'varchar', length: 255 })
  filename!: string;

  @Field(() => GraphQLSafeInt, { description: 'Bytes the client said it will send.' })
  @Property({ type: new BigIntType('number') })
  size!: number;

  @Property({ type: 'varchar', length: 127 })
  declaredMime!: string;

  /** SHA-256 the client expects, hex; verified at completion when given. */
  @Property({ type: 'char', length: 64, nullable: true })
  expectedSha256: string | null = null;

  /** Hash of the ticket's secret: whoever holds the ticket may send bytes, nobody else. */
  @Property({ type: 'char', length: 64, unique: true })
  tokenHash!: string;

  @Field(() => GraphQLSafeInt, { description: 'Bytes safely stored so far: resume from here.' })
  @Property({ type: new BigIntType('number'), default: 0 })
  receivedBytes: Opt<number> = 0;

  /** Staging parts recorded so far (each a separate object keyed by its start offset). */
  @Property({ type: 'integer', default: 0 })
  parts: Opt<number> = 0;

  /**
   * The staging run the last recorded part went into (storage.putPart): the next part appends to
   * it, so the original can be made of the parts without copying. Cleared when a lease lapses
   * instead of being given back, since the request that held it may still be writing there.
   */
  @Property({ type: 'varchar', length: 64, nullable: true })
  stagingRun: string | null = null;

  /**
   * The PATCH that holds the ticket right now: one request at a time may send bytes. The holder
   * renews the lease while it works; a holder that died lets it lapse, so a resume waits at most
   * one lease, never forever.
   */
  @Property({ type: 'uuid', nullable: true })
  leaseToken: string | null = null;

  @Property({ type: 'timestamptz', nullable: true })
  leaseUntil: Date | null = null;

  @Field(() => UploadStatus)
  @Enum({ items: () => UploadStatus, default: UploadStatus.OPEN })
  status: Opt<UploadStatus> = UploadStatus.OPEN;

  @Field(() => String, { nullable: true })
  @Property({ type: 'text', nullable: true })
  error: string | null = null;

  /** From the first bytes, once they arrive. */
  @Field(() => FileType, { nullable: true })
  @Enum({ items: () => FileType, nullable: true })
  fileType: FileType | null = null;

  @Property({ type: 'varchar', length: 127, nullable: true })
  sniffedMime: string | null = null;

  @Field(() => GraphQLISODateTime)
  @Property({ type: 'timestamptz' })
  expiresAt!: Date;

  @Field(() => Asset, { nullable: true, description: 'The memory this upload became (or the one it duplicates).' })
  @ManyToOne({ entity: () => Asset, nullable: true, deleteRule: 'set null' })
  asset: Asset | null = null;

  @Field(() => Boolean, { description: "True when a memory with the same bytes was already among those the uploader can see (a guest: only their own contribution's): nothing new was stored." })
  @Property({ type: 'boolean', default: false })
  duplicate: Opt<boolean> = false;
}
