import { Arg, Ctx, Field, FieldResolver, ID, InputType, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Asset } from '../db/entities/index.js';
import { GeoLocation, Thumbnail } from '../db/entities/asset.types.js';
import { maySeeLocation } from '../domain/access/access.service.js';
import { getAsset, updateMemory } from '../domain/asset/asset.service.js';
import { derivativeUrl, originalUrl } from '../domain/asset/download.js';
import type { Context } from './context.js';

@InputType({ description: 'What people say about a memory: omitted fields stay as they are; null clears a field.' })
export class UpdateMemoryInput {
  @Field(() => String, { nullable: true, description: 'Up to 2000 characters.' })
  caption?: string | null;

  @Field(() => String, { nullable: true, description: 'Where it was made, in words ("Whitby"); up to 200 characters. Everyone who may read the memory sees it.' })
  place?: string | null;

  @Field(() => String, {
    nullable: true,
    description: 'When it was made: YYYY-MM-DD, or an ISO 8601 date and time; not in the future. Processing never overwrites it.',
  })
  dateTaken?: string | null;

  @Field(() => [String], {
    nullable: true,
    description: "Your own tags (source USER), replacing the earlier USER tags; up to 30 of up to 50 characters. Other sources' tags stay, except those of the same name.",
  })
  tags?: string[] | null;
}

@Resolver(() => Asset)
export class AssetResolver {
  @Query(() => Asset, { description: 'One memory, if you may read its chest.' })
  asset(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Asset> {
    return getAsset(ctx.em, ctx.actor, id);
  }

  @Mutation(() => Asset, { description: "Editors and owners: a memory's caption, place, date and your own tags." })
  updateMemory(
    @Arg('assetId', () => ID) assetId: string,
    @Arg('input', () => UpdateMemoryInput) input: UpdateMemoryInput,
    @Ctx() ctx: Context,
  ): Promise<Asset> {
    return updateMemory(ctx.em, ctx.actor, assetId, { ...input });
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'A link to the original file, valid 5 minutes. Photos and videos: members only (their metadata can hold GPS).',
  })
  originalUrl(@Root() asset: Asset, @Ctx() ctx: Context): Promise<string | null> {
    return originalUrl(ctx.actor, asset, ctx.storage, ctx.config.secretKey);
  }

  /** The only way coordinates leave the server: the access service decides per caller and chest. */
  @FieldResolver(() => GeoLocation, { nullable: true, description: "Where it was made; only the chest's members see it." })
  async location(@Root() asset: Asset, @Ctx() ctx: Context): Promise<GeoLocation | null> {
    return (await maySeeLocation(ctx.actor, asset.chest.id)) ? asset.location : null;
  }
}

@Resolver(() => Thumbnail)
export class ThumbnailResolver {
  @FieldResolver(() => String, { description: 'A link to the image, valid 5 minutes. WebP, with no metadata.' })
  url(@Root() thumbnail: Thumbnail, @Ctx() ctx: Context): Promise<string> {
    // The key is chests/<chest>/derivatives/<asset>/<name>: the asset id is its fourth part.
    const assetId = thumbnail.storageKey.split('/')[3]!;
    return derivativeUrl({ id: assetId }, thumbnail, ctx.storage, ctx.config.secretKey);
  }
}
