import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema, type NonEmptyArray } from 'type-graphql';
import { AssetResolver, ThumbnailResolver } from './asset.resolver.js';
import { AccountResolver } from './account.resolver.js';
import { AssetConnectionResolver, ChestResolver, ChestSummaryResolver } from './chest.resolver.js';
import { ContributionResolver } from './contribution.resolver.js';
import { AssetReviewResolver, ContributionMemoriesResolver } from './contribution-memories.resolver.js';
import { BinResolver, ChestBinResolver } from './bin.resolver.js';
import { StoryCitationResolvers } from './story-citations.resolver.js';
import { AssetContributorsResolver, ChestDuplicatesResolver, DuplicateGroupResolver } from './duplicates.resolver.js';
import { MembershipResolver } from './membership.resolver.js';
import { AssetFacesResolver, ChestPeopleResolver, FaceResolver, PersonResolver } from './people.resolver.js';
import { UploadResolver } from './upload.resolver.js';
import { EventsResolver } from './events.resolver.js';
import { ChestExportResolver, ChestExportsResolver } from './export.resolver.js';
import { ChestImportResolver } from './import.resolver.js';
import { ChestStoryResolver, StoryResolver } from './story.resolver.js';
import { SearchResolver } from './search.resolver.js';
import { ChestTimelineResolver, TimelineBucketResolver } from './timeline.resolver.js';

/** Every resolver class of the schema (the compiled read resolves fields through the same ones: compiled/field-sources.ts). */
export const SCHEMA_RESOLVERS: readonly Function[] = [AccountResolver, ChestResolver, ChestSummaryResolver, AssetConnectionResolver, AssetResolver, ThumbnailResolver, MembershipResolver, ContributionResolver, ContributionMemoriesResolver, AssetReviewResolver, BinResolver, ChestBinResolver, ...StoryCitationResolvers, UploadResolver, EventsResolver, StoryResolver, ChestStoryResolver, ChestPeopleResolver, PersonResolver, AssetFacesResolver, FaceResolver, ChestExportResolver, ChestExportsResolver, ChestImportResolver, ChestDuplicatesResolver, DuplicateGroupResolver, AssetContributorsResolver, SearchResolver, ChestTimelineResolver, TimelineBucketResolver];

export async function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: SCHEMA_RESOLVERS as unknown as NonEmptyArray<Function>,
    // Input is validated in domain/ (zod), where the rules live next to the use cases.
    validate: false,
    // Every subscription brings its own `subscribe` (access check first, then the EventBus), so
    // type-graphql's topic-based pub/sub is never used; it only insists that one exists.
    pubSub: {
      publish: () => {
        throw new Error('publish through the EventBus');
      },
      subscribe: () => {
        throw new Error('subscriptions must provide their own subscribe function');
      },
    },
  });
}

/** The SDL committed as schema/schema.graphql: sorted, so diffs show real changes only. */
export function printSortedSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
