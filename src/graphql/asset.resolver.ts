import { Arg, Ctx, FieldResolver, ID, Query, Resolver, Root } from 'type-graphql';
import { Asset } from '../db/entities/index.js';
import { GeoLocation, Thumbnail } from '../db/entities/asset.types.js';
import { maySeeLocation } from '../domain/access/access.service.js';
import { getAsset } from '../domain/asset/asset.service.js';
import { derivativeUrl, originalUrl } from '../domain/asset/download.js';
import type { Context } from './context.js';

@Resolver(() => Asset)
export class AssetResolver {
  @Query(() => Asset, { description: 'One memory, if you may read its chest.' })
  asset(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Asset> {
    return getAsset(ctx.em, ctx.actor, id);
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
