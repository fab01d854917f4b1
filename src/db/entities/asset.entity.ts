import type { Opt } from '@mikro-orm/core';
import { BigIntType } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { GraphQLJSONObject, GraphQLSafeInt } from 'graphql-scalars';
import { Field, Float, GraphQLISODateTime, Int, ObjectType } from 'type-graphql';
import { FileType, ProcessingStatus } from '../enums.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';
import { Account } from './account.entity.js';
import { Contribution } from './contribution.entity.js';
import { Analysis, type AssetPreview, GeoLocation, Tag, Thumbnail, Transcription } from './asset.types.js';
import type { AssetRedaction } from './face.types.js';
import type { MergedCopy } from './duplicate.types.js';

export const PLACE_MAX = 200;
export const CAPTION_MAX = 2000;

/** A memory: one original file and everything the pipeline learned from it. */
@ObjectType({ simpleResolvers: true, description: 'A memory: a photo, video, voice recording or document.' })
@Entity({ tableName: 'asset' })
// The chest's asset list order (see the Chest.assets resolver), over live rows only.
// Raw expression: MikroORM's differ cannot round-trip per-column DESC/NULLS together with a predicate.
@Index({
  name: 'asset_chest_timeline_idx',
  expression:
    'create index "asset_chest_timeline_idx" on "asset" ("chest_id", "date_taken" desc nulls last, "created_at" desc, "id" desc) where deleted_at is null',
})
@Index({ name: 'asset_chest_type_idx', properties: ['chest', 'fileType'], where: 'deleted_at is null' })
@Index({ name: 'asset_chest_status_idx', properties: ['chest', 'status'], where: 'deleted_at is null' })
// Duplicate detection: the same bytes within one chest.
@Index({ name: 'asset_chest_sha256_idx', properties: ['chest', 'sha256'] })
// The chest's bin (Chest.bin): newest deletion first, over binned rows only.
@Index({
  name: 'asset_chest_bin_idx',
  expression: 'create index "asset_chest_bin_idx" on "asset" ("chest_id", "deleted_at" desc, "id" desc) where deleted_at is not null',
})
export class Asset extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  /** Set when a guest sent this memory; it stays hidden until that contribution is approved. */
  @ManyToOne({ entity: () => Contribution, nullable: true, deleteRule: 'set null', index: true })
  contribution: Contribution | null = null;

  /**
   * A memory of a contribution that an owner approved on its own (approveContributionMemory): it is
   * visible while the rest of the contribution waits. Rejected ones are purged, never kept.
   */
  @Property({ type: 'timestamptz', nullable: true })
  approvedAt: Date | null = null;

  /** The member whose upload created it; null for a guest's, and after their account is gone. Editors may bin only their own. */
  @ManyToOne({ entity: () => Account, nullable: true, deleteRule: 'set null', index: true })
  addedBy: Account | null = null;

  /** Exposed through the Asset.filename resolver: names often hold a street or a person's name. */
  @Property({ type: 'varchar', length: 255 })
  filename!: string;

  /** Generated object key; never derived from user input, never exposed. */
  @Property({ type: 'text' })
  storageKey!: string;

  @Field(() => FileType)
  @Enum({ items: () => FileType })
  fileType!: FileType;

  @Field(() => GraphQLSafeInt, { description: 'Size of the original in bytes.' })
  @Property({ type: new BigIntType('number') })
  size!: number;

  @Field(() => String, { description: 'MIME type sniffed from the bytes.' })
  @Property({ type: 'varchar', length: 127 })
  mimeType!: string;

  @Field(() => String, { description: 'SHA-256 of the original, hex.' })
  @Property({ type: 'char', length: 64 })
  sha256!: string;

  @Field(() => ProcessingStatus)
  @Enum({ items: () => ProcessingStatus, default: ProcessingStatus.PENDING })
  status: Opt<ProcessingStatus> = ProcessingStatus.PENDING;

  @Field(() => Int, { description: 'Processing progress, 0 to 100.' })
  @Property({ type: 'smallint', default: 0 })
  progress: Opt<number> = 0;

  @Field(() => String, { nullable: true, description: 'The pipeline stage running or last run (e.g. "thumbnails", "waveform").' })
  @Property({ type: 'varchar', length: 32, nullable: true })
  processingStage: string | null = null;

  /** Attempts started, across retries and re-processing; lets the dead-letter step say how many. */
  @Property({ type: 'smallint', default: 0 })
  processingAttempts: Opt<number> = 0;

  /**
   * Attempts in a row whose process died while holding the asset (a native out-of-memory, a
   * SIGKILL): the next attempt finds the row still PROCESSING. Past the first, the memory is
   * FAILED instead of being tried into the same death again (domain/processing).
   */
  @Property({ type: 'smallint', default: 0 })
  processingDeaths: Opt<number> = 0;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'When processing last completed.' })
  @Property({ type: 'timestamptz', nullable: true })
  processedAt: Date | null = null;

  @Field(() => String, { nullable: true, description: 'Why processing failed, in words meant for people.' })
  @Property({ type: 'text', nullable: true })
  processingError: string | null = null;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'When the memory was made: from its metadata, or as a person set it (updateMemory); processing never overwrites a set date.' })
  @Property({ type: 'timestamptz', nullable: true })
  dateTaken: Date | null = null;

  /**
   * Where it was made, in the family's own words ("Whitby"). Unlike `location` it is what people
   * chose to say, so everyone who may read the memory sees it, and stories may use it.
   */
  @Field(() => String, { nullable: true, description: 'Where it was made, in the words of the family (e.g. "Whitby"). Everyone who may read the memory sees it, and stories use it; GPS coordinates are `location`, members only.' })
  @Property({ type: 'varchar', length: PLACE_MAX, nullable: true })
  place: string | null = null;

  /** Exposed only through the privacy-aware Asset.location resolver. */
  @Property({ type: 'jsonb', nullable: true })
  location: GeoLocation | null = null;

  @Field(() => Int, { nullable: true, description: 'Pixels, upright (after EXIF orientation); photos and videos.' })
  @Property({ type: 'integer', nullable: true })
  width: number | null = null;

  @Field(() => Int, { nullable: true })
  @Property({ type: 'integer', nullable: true })
  height: number | null = null;

  @Field(() => Float, { nullable: true, description: 'Seconds; videos and recordings.' })
  @Property({ type: 'double precision', nullable: true })
  durationSeconds: number | null = null;

  /** Exposed through the Asset.placeholder resolver: outside the family, a picture of a hidden person gets the blurred copy's. */
  @Field(() => String, {
    nullable: true,
    description:
      "ThumbHash (base64) of the picture or poster: a blurred preview to draw before the thumbnail loads. Outside the family, for a photo or video showing a hidden person, the ThumbHash of the copy with their face blurred, and null while that copy is being made.",
  })
  @Property({ type: 'varchar', length: 64, nullable: true })
  placeholder: string | null = null;

  @Field(() => String, { nullable: true, description: '64-bit perceptual hash (hex) of a photo; near-identical photos differ in few bits.' })
  @Property({ type: 'char', length: 16, nullable: true })
  perceptualHash: string | null = null;

  @Field(() => [Float], { nullable: true, description: 'Peak levels from 0 to 1 across a recording, for drawing its waveform.' })
  @Property({ type: 'jsonb', nullable: true })
  waveform: number[] | null = null;

  @Field(() => GraphQLJSONObject, { nullable: true, description: 'Technical facts the pipeline read (codec, bit rate, page count, ...). The camera (make and model) only for those who may have the original.' })
  @Property({ type: 'jsonb', nullable: true })
  mediaInfo: Opt<Record<string, string | number | boolean | null>> | null = null;

  /** Exposed through the Asset.thumbnails resolver: people outside the family may get copies with hidden people blurred. */
  @Property({ type: 'jsonb', default: '[]' })
  thumbnails: Opt<Thumbnail[]> = [];

  /** Photos showing a hidden person: thumbnails with their faces blurred, for people outside the family (domain/people/redaction.ts). */
  @Property({ type: 'jsonb', nullable: true })
  redaction: AssetRedaction | null = null;

  /** Recordings and videos: the metadata-free copy non-members get (null before processing, and for assets processed before previews existed). */
  @Property({ type: 'jsonb', nullable: true })
  preview: AssetPreview | null = null;

  @Field(() => Transcription, { nullable: true })
  @Property({ type: 'jsonb', nullable: true })
  transcription: Transcription | null = null;

  @Field(() => String, { nullable: true, description: 'Text read from a document or scan.' })
  @Property({ type: 'text', nullable: true })
  extractedText: string | null = null;

  @Field(() => [Tag])
  @Property({ type: 'jsonb', default: '[]' })
  tags: Opt<Tag[]> = [];

  @Field(() => String, { nullable: true, description: 'One or two sentences about the memory: written by a person (updateMemory), or by the AI when nobody has.' })
  @Property({ type: 'text', nullable: true })
  caption: string | null = null;

  @Field(() => [Analysis], { description: 'The AI tasks run on this memory, with the provider and model of each.' })
  @Property({ type: 'jsonb', default: '[]' })
  analyses: Opt<Analysis[]> = [];

  /** Copies merged into this memory (resolveDuplicates), oldest merge first; exposed through Asset.contributors. */
  @Property({ type: 'jsonb', default: '[]' })
  mergedFrom: Opt<MergedCopy[]> = [];

  @Field(() => GraphQLISODateTime, { nullable: true })
  @Property({ type: 'timestamptz', nullable: true })
  deletedAt: Date | null = null;

  /** Who moved it to the bin (deleteMemory); shown to owners in Chest.bin. */
  @ManyToOne({ entity: () => Account, nullable: true, deleteRule: 'set null' })
  deletedBy: Account | null = null;
}
