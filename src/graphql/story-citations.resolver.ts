import { type ClassType, Ctx, FieldResolver, ID, Resolver, Root } from 'type-graphql';
import { StoryParagraph, Theme, TimelineEntry } from '../db/entities/story.types.js';
import { removedCitations } from '../domain/story/removed-citations.js';
import type { Context } from './context.js';

const DESCRIPTION =
  'Of assetIds, the memories no longer in the chest (moved to the bin, or erased): show them as "(memory removed)". The text is not rewritten when a memory goes.';

/** removedAssetIds on every item of a story that cites memories: paragraphs, timeline entries, themes. */
function citationResolver<T extends { assetIds: string[] }>(of: ClassType<T>) {
  @Resolver(() => of)
  class CitationResolver {
    @FieldResolver(() => [ID], { description: DESCRIPTION })
    removedAssetIds(@Root() item: T, @Ctx() ctx: Context): Promise<string[]> {
      // One batched read of every cited id on the page, whatever the number of stories and items.
      return removedCitations(item.assetIds, (id) => ctx.loaders.assetsById.load(id));
    }
  }
  return CitationResolver;
}

export const StoryCitationResolvers = [citationResolver(StoryParagraph), citationResolver(TimelineEntry), citationResolver(Theme)] as const;
