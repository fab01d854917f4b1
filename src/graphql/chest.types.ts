import { GraphQLLocalDate, GraphQLSafeInt } from 'graphql-scalars';
import { ArgsType, Field, GraphQLISODateTime, ID, InputType, Int, ObjectType } from 'type-graphql';
import { Asset, Chest, Contribution, Story } from '../db/entities/index.js';
import { ContributionStatus, FileType, ProcessingStatus } from '../db/enums.js';
import { connectionType } from './connection.js';

export const ChestConnection = connectionType('Chest', Chest);
export const AssetConnection = connectionType('Asset', Asset);
export const StoryConnection = connectionType('Story', Story);
export const ContributionConnection = connectionType('Contribution', Contribution);

@InputType({ description: 'A new chest. Text is trimmed; dates are YYYY-MM-DD.' })
export class CreateChestInput {
  @Field(() => String, { description: '1 to 200 characters.' })
  personName!: string;

  @Field(() => String, { nullable: true, description: 'Up to 2000 characters.' })
  description?: string | null;

  @Field(() => GraphQLLocalDate, { nullable: true })
  birthDate?: string | null;

  @Field(() => GraphQLLocalDate, { nullable: true, description: 'Not before birthDate.' })
  passingDate?: string | null;

  @Field(() => Boolean, { nullable: true, description: 'Default false: chests start private.' })
  isPublic?: boolean | null;

  @Field(() => Boolean, { nullable: true, description: 'Default false.' })
  allowContributions?: boolean | null;
}

@InputType({ description: 'Changes to a chest: omitted fields stay as they are; null clears a field.' })
export class UpdateChestInput {
  @Field(() => String, { nullable: true })
  personName?: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => GraphQLLocalDate, { nullable: true })
  birthDate?: string | null;

  @Field(() => GraphQLLocalDate, { nullable: true })
  passingDate?: string | null;

  @Field(() => Boolean, { nullable: true })
  isPublic?: boolean;

  @Field(() => Boolean, { nullable: true })
  allowContributions?: boolean;

  @Field(() => ID, { nullable: true, description: 'An image in this chest; null removes the hero image.' })
  heroImageId?: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'A newly made link. Its token is shown only this once.' })
export class IssuedLink {
  @Field(() => Chest)
  chest!: Chest;

  @Field(() => String, { description: 'Keep it: only a hash is stored. Rotating or revoking makes it useless.' })
  token!: string;

  @Field(() => GraphQLISODateTime, { nullable: true })
  expiresAt!: Date | null;
}

@ObjectType({ simpleResolvers: true, description: "The state of a chest's links (owners only)." })
export class ChestLinks {
  @Field(() => Boolean)
  shareLinkActive!: boolean;

  @Field(() => GraphQLISODateTime, { nullable: true })
  shareLinkExpiresAt!: Date | null;

  @Field(() => Boolean, { description: 'The view link also hands out originals and file names (createShareLink allowOriginals), which may reveal where things were recorded.' })
  shareLinkAllowsOriginals!: boolean;

  @Field(() => Boolean, { description: 'False while allowContributions is off, even if a link exists.' })
  contributionLinkActive!: boolean;

  @Field(() => GraphQLISODateTime, { nullable: true })
  contributionLinkExpiresAt!: Date | null;
}

@ArgsType()
export class PageArgsGql {
  @Field(() => Int, { nullable: true, description: 'Page size, 1 to the server maximum (default 20).' })
  first?: number | null;

  @Field(() => String, { nullable: true, description: '`pageInfo.endCursor` of the previous page.' })
  after?: string | null;
}

@ArgsType()
export class ChestsArgs extends PageArgsGql {
  @Field(() => Boolean, { defaultValue: false, description: 'List chests in the bin instead.' })
  deleted!: boolean;
}

@ArgsType()
export class AssetsArgs extends PageArgsGql {
  @Field(() => [FileType], { nullable: true, description: 'Only these kinds.' })
  types?: FileType[] | null;

  @Field(() => [ProcessingStatus], { nullable: true, description: 'Only these processing states.' })
  statuses?: ProcessingStatus[] | null;
}

@ArgsType()
export class ContributionsArgs extends PageArgsGql {
  @Field(() => ContributionStatus, { nullable: true })
  status?: ContributionStatus | null;
}

@ObjectType({ simpleResolvers: true, description: 'What a chest holds at a glance.' })
export class ChestSummary {
  @Field(() => Int)
  totalAssets!: number;

  @Field(() => Int)
  images!: number;

  @Field(() => Int)
  videos!: number;

  @Field(() => Int)
  audio!: number;

  @Field(() => Int)
  documents!: number;

  @Field(() => Int, { description: 'Processing finished.' })
  processed!: number;

  @Field(() => Int, { description: 'Waiting for or in processing.' })
  pending!: number;

  @Field(() => Int)
  failed!: number;

  @Field(() => GraphQLSafeInt, { description: 'Bytes of originals stored.' })
  totalBytes!: number;

  /** Whose summary this is; not a field (recentAssets, a field resolver, loads from it). */
  chestId!: string;
}
