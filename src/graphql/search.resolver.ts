import { Arg, Ctx, FieldResolver, ID, Int, Query, Resolver, Root } from 'type-graphql';
import { Asset, Contribution, Story } from '../db/entities/index.js';
import { search } from '../domain/search/search.service.js';
import { type ConnectionShape, toConnection } from './connection.js';
import type { Context } from './context.js';
import { SearchConnection, SearchFilterInput, SearchHit } from './search.types.js';

/** Transport only: search over a chest (domain/search). */
@Resolver(() => SearchHit)
export class SearchResolver {
  @Query(() => SearchConnection, {
    description:
      "Full-text search in a chest the caller may read, best hits first. query: words as in a search box (\"a phrase\", or, -word; English stemming: letters finds letter). Finds what the caller may read: memories the chest shows them, the published story (members: every story's latest version), hidden people's names only for members, guests' messages only for owners and editors; never locations or file names.",
  })
  async search(
    @Arg('chestId', () => ID) chestId: string,
    @Arg('query', () => String) query: string,
    @Arg('filter', () => SearchFilterInput, { nullable: true }) filter: SearchFilterInput | null,
    @Arg('first', () => Int, { nullable: true }) first: number | null,
    @Arg('after', () => String, { nullable: true }) after: string | null,
    @Ctx() ctx: Context,
  ): Promise<ConnectionShape<SearchHit>> {
    return toConnection(await search(ctx.em, ctx.actor, { chestId, query, filter: filter && { ...filter }, first, after }, ctx.config.maxPageSize));
  }

  @FieldResolver(() => Asset, { nullable: true, description: 'The memory the words are in or about.' })
  asset(@Root() hit: SearchHit, @Ctx() ctx: Context): Promise<Asset | null> | null {
    return hit.assetId ? ctx.loaders.assetsById.load(hit.assetId) : null;
  }

  @FieldResolver(() => Story, { nullable: true })
  story(@Root() hit: SearchHit, @Ctx() ctx: Context): Promise<Story | null> | null {
    return hit.storyId ? ctx.loaders.storiesById.load(hit.storyId) : null;
  }

  @FieldResolver(() => Contribution, { nullable: true, description: 'MESSAGE hits (owners and editors).' })
  contribution(@Root() hit: SearchHit, @Ctx() ctx: Context): Promise<Contribution | null> | null {
    return hit.contributionId ? ctx.loaders.contributionsById.load(hit.contributionId) : null;
  }
}
