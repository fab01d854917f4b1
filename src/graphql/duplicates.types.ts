import { Field, GraphQLISODateTime, ID, InputType, Int, ObjectType, registerEnumType } from 'type-graphql';
import { DuplicateReason } from '../domain/duplicates/duplicate-groups.queries.js';
import { NEAR_COPY_BITS } from '../domain/story/duplicates.js';
import { connectionType } from './connection.js';

registerEnumType(DuplicateReason, {
  name: 'DuplicateReason',
  description: `EXACT: the same file (equal SHA-256). NEAR: the same picture resized, recompressed or re-saved (64-bit perceptual hashes at most ${NEAR_COPY_BITS} bits apart, and nothing in their text telling them apart).`,
});

export enum ContributorKind {
  MEMBER = 'MEMBER',
  GUEST = 'GUEST',
}
registerEnumType(ContributorKind, { name: 'ContributorKind', description: 'MEMBER: a member of the chest uploaded it. GUEST: it came with a contribution.' });

@ObjectType({ simpleResolvers: true, description: 'Copies of one memory, for owners and editors to resolve (resolveDuplicates) or dismiss (dismissDuplicates).' })
export class DuplicateGroup {
  @Field(() => ID, { description: 'A fingerprint of its memories: the same memories give the same id.' })
  id!: string;

  @Field(() => DuplicateReason, { description: 'EXACT when all its memories are the same file; NEAR otherwise.' })
  reason!: DuplicateReason;

  @Field(() => Int, {
    description: `0 for EXACT. For NEAR, the most bits by which two of its photos' perceptual hashes differ: at most ${NEAR_COPY_BITS} between neighbours, possibly more across a chain of near copies.`,
  })
  distance!: number;

  /** Loaded by the field resolvers through the request's batch loader. */
  assetIds!: string[];
  keepId!: string;
}

export const DuplicateGroupConnection = connectionType('DuplicateGroup', DuplicateGroup);

@ObjectType({ simpleResolvers: true, description: 'Who added one copy of a memory: the memory itself, or a copy merged into it.' })
export class MemoryContributor {
  @Field(() => ContributorKind)
  kind!: ContributorKind;

  @Field(() => String, { nullable: true, description: "The guest's signature or the member's display name; null when not known (memories added before who added them was recorded, accounts since closed)." })
  name!: string | null;

  @Field(() => ID, { nullable: true, description: 'The contribution it came with (guests).' })
  contributionId!: string | null;

  @Field(() => ID, { nullable: true, description: 'The member who uploaded it.' })
  accountId!: string | null;

  @Field(() => ID, { description: 'The copy: this memory, or one merged into it (now in the bin).' })
  assetId!: string;

  @Field(() => GraphQLISODateTime, { nullable: true, description: 'When that copy was merged in; null for the memory itself.' })
  mergedAt!: Date | null;
}

@InputType({ description: 'Which memory to keep, and its copies to merge into it.' })
export class ResolveDuplicatesInput {
  @Field(() => ID, { description: 'The memory that stays.' })
  keepAssetId!: string;

  @Field(() => [ID], { description: 'Its copies (1 to 50): merged into it, then moved to the bin.' })
  duplicateAssetIds!: string[];
}
