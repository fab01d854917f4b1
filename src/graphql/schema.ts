import 'reflect-metadata';
import { lexicographicSortSchema, printSchema, type GraphQLSchema } from 'graphql';
import { buildSchema } from 'type-graphql';
import { AssetResolver } from './asset.resolver.js';
import { AccountResolver } from './account.resolver.js';
import { AssetConnectionResolver, ChestResolver } from './chest.resolver.js';
import { ContributionResolver } from './contribution.resolver.js';
import { MembershipResolver } from './membership.resolver.js';
import { UploadResolver } from './upload.resolver.js';

export async function createSchema(): Promise<GraphQLSchema> {
  return buildSchema({
    resolvers: [AccountResolver, ChestResolver, AssetConnectionResolver, AssetResolver, MembershipResolver, ContributionResolver, UploadResolver],
    // Input is validated in domain/ (zod), where the rules live next to the use cases.
    validate: false,
  });
}

/** The SDL committed as schema/schema.graphql: sorted, so diffs show real changes only. */
export function printSortedSchema(schema: GraphQLSchema): string {
  return `${printSchema(lexicographicSortSchema(schema))}\n`;
}
