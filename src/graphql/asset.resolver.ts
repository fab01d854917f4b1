import { GraphQLJSONObject } from 'graphql-scalars';
import { Arg, Ctx, Field, FieldResolver, ID, InputType, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Asset } from '../db/entities/index.js';
import { GeoLocation, Thumbnail } from '../db/entities/asset.types.js';
import { decide, type Maybe, maySeeLocation, maySeeLocationNow } from '../domain/access/access.service.js';
import { readAsset, updateMemory } from '../domain/asset/asset.service.js';
import { maySeeWhoBinned } from '../domain/asset/bin.service.js';
import { binnedDerivativeUrl, derivativeUrl, originalUrl, previewMimeType, previewUrl, visibleFilename, visibleMediaInfo } from '../domain/asset/download.js';
import { originalWithheld, placeholderFor, previewWithheld, thumbnailsFor } from '../domain/people/redaction.js';
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
  @Query(() => Asset, { description: "One memory, if you may read its chest. A memory in the bin: its chest's owners only (NOT_FOUND for everyone else)." })
  asset(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Asset> {
    return readAsset(ctx.em, ctx.actor, id);
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
    description:
      "A link to the original file, valid 5 minutes. The chest's members only, and holders of a view link made with allowOriginals: an original may reveal where it was recorded (GPS) and who made it. Everyone else: null; use previewUrl. Never outside the family for a photo or video showing a hidden person (hidePerson).",
  })
  async originalUrl(@Root() asset: Asset, @Ctx() ctx: Context): Promise<string | null> {
    // In the bin (only owners get here): no downloads until it is restored.
    if (asset.deletedAt) return null;
    if (await originalWithheld(ctx.actor, asset, this.hiddenFaces(ctx))) return null;
    return originalUrl(ctx.actor, asset, ctx.storage, ctx.config.secretKey);
  }

  @FieldResolver(() => [Thumbnail], {
    description:
      "WebP copies without metadata (a video's: its poster frame). People outside the family get them with the faces of hidden people blurred, and none of a photo or video whose blurred copies are still being made.",
  })
  thumbnails(@Root() asset: Asset, @Ctx() ctx: Context): Maybe<Thumbnail[]> {
    // In the bin: links that open only from the bin (binnedDerivativeUrl), for owners only. The editor
    // who bins their own memory is handed it back by deleteMemory, but may not look into the bin.
    if (asset.deletedAt) {
      return maySeeWhoBinned(ctx.actor, asset.chest.id).then((owner) => (owner ? asset.thumbnails.map((t): BinnedThumbnail => ({ ...t, binnedAssetId: asset.id })) : []));
    }
    return thumbnailsFor(ctx.actor, asset, this.hiddenFaces(ctx));
  }

  @FieldResolver(() => String, {
    nullable: true,
    description:
      "A link to a copy without metadata, valid 5 minutes, for everyone who may read the memory: a photo's largest thumbnail (WebP), a recording re-encoded (M4A, no tags, chapters or cover art), a video transcoded (H.264 MP4, no tags), a document's text. Null until processing made it, and for recordings and videos processed before previews existed. Outside the family, a photo showing a hidden person comes with their face blurred (null while that copy is being made), and a video showing one has none: its film is not blurred, only its posters (thumbnails) are.",
  })
  async previewUrl(@Root() asset: Asset, @Ctx() ctx: Context): Promise<string | null> {
    if (asset.deletedAt) return null;
    if (await previewWithheld(ctx.actor, asset, this.hiddenFaces(ctx))) return null;
    return previewUrl(asset, ctx.storage, ctx.config.secretKey, await thumbnailsFor(ctx.actor, asset, this.hiddenFaces(ctx)));
  }

  @FieldResolver(() => String, { nullable: true, description: "previewUrl's MIME type." })
  async previewMimeType(@Root() asset: Asset, @Ctx() ctx: Context): Promise<string | null> {
    if (await previewWithheld(ctx.actor, asset, this.hiddenFaces(ctx))) return null;
    return previewMimeType(asset, await thumbnailsFor(ctx.actor, asset, this.hiddenFaces(ctx)));
  }

  /** The field and its description are the entity's (Asset.placeholder); this decides, like thumbnails, what each caller gets. */
  @FieldResolver(() => String, { nullable: true })
  placeholder(@Root() asset: Asset, @Ctx() ctx: Context): Maybe<string | null> {
    return placeholderFor(ctx.actor, asset, this.hiddenFaces(ctx));
  }

  @FieldResolver(() => String, {
    description:
      'The original file name, sanitised, for those who may have the original; others get a neutral name ("recording.m4a"), since names often hold a street or a person.',
  })
  filename(@Root() asset: Asset, @Ctx() ctx: Context): Maybe<string> {
    return visibleFilename(ctx.actor, asset);
  }

  /** The field and its description are the entity's (Asset.mediaInfo); this decides what each caller sees of it. */
  @FieldResolver(() => GraphQLJSONObject, { nullable: true })
  mediaInfo(@Root() asset: Asset, @Ctx() ctx: Context): Maybe<Asset['mediaInfo']> {
    return visibleMediaInfo(ctx.actor, asset);
  }

  private hiddenFaces(ctx: Context) {
    return (id: string) => ctx.loaders.hiddenFaces.load(id);
  }

  /**
   * The only way coordinates leave the server: the access service decides per caller and chest
   * (at once when the caller's role in the chest is already known, so a page needs no promise per memory).
   */
  @FieldResolver(() => GeoLocation, { nullable: true, description: "Where it was made; only the chest's members see it." })
  location(@Root() asset: Asset, @Ctx() ctx: Context): Maybe<GeoLocation | null> {
    const chestId = asset.chest.id;
    return decide(maySeeLocationNow(ctx.actor, chestId), () => maySeeLocation(ctx.actor, chestId), (member) => (member ? asset.location : null));
  }
}

/** A thumbnail of a memory in the bin, as Asset.thumbnails hands it to owners: its url opens only from the bin. */
type BinnedThumbnail = Thumbnail & { binnedAssetId: string };

@Resolver(() => Thumbnail)
export class ThumbnailResolver {
  @FieldResolver(() => String, { description: 'A link to the image, valid 5 minutes. WebP, with no metadata.' })
  async url(@Root() thumbnail: Thumbnail | BinnedThumbnail, @Ctx() ctx: Context): Promise<string> {
    if ('binnedAssetId' in thumbnail) return binnedDerivativeUrl(thumbnail.binnedAssetId, thumbnail, ctx.config.secretKey);
    // The key is chests/<chest>/derivatives/<asset>/<name>: the asset id is its fourth part.
    const assetId = thumbnail.storageKey.split('/')[3]!;
    return derivativeUrl({ id: assetId }, thumbnail, ctx.storage, ctx.config.secretKey);
  }
}
