import type { GraphQLResolveInfo } from 'graphql';
import { Arg, Args, Ctx, FieldResolver, GraphQLISODateTime, ID, Info, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Asset, Chest, Membership } from '../db/entities/index.js';
import { ChestRole } from '../db/enums.js';
import type { AssetFilter } from '../domain/asset/asset.queries.js';
import { createChest, deleteChest, getChest, listChests, restoreChest, updateChest } from '../domain/chest/chest.service.js';
import {
  createContributionLink,
  createShareLink,
  getChestLinks,
  revokeContributionLink,
  revokeShareLink,
} from '../domain/chest/chest-links.service.js';
import { openShareLinkAsClient } from '../domain/chest/share-link-guard.js';
import { assertMaySeeContributions, myRole, storiesPublishedOnly } from '../domain/chest/chest.nested.js';
import { listMembers } from '../domain/membership/membership.service.js';
import {
  AssetConnection,
  AssetsArgs,
  ChestConnection,
  ChestsArgs,
  ChestSummary,
  ChestLinks,
  IssuedLink,
  ContributionConnection,
  ContributionsArgs,
  CreateChestInput,
  PageArgsGql,
  StoryConnection,
  UpdateChestInput,
} from './chest.types.js';
import { type ConnectionShape, toConnection } from './connection.js';
import type { Context } from './context.js';
import { fieldsAt } from './selection.js';
import { assetPropertiesFor } from './asset-properties.js';
import { asksStoryText, assetPageKey, contributionPageKey, storyPageKey } from './chest-parts.js';

/** Transport only: read arguments, call one domain function, shape the result. */
@Resolver(() => Chest)
export class ChestResolver {
  @Query(() => Chest, { description: 'A chest by id. NOT_FOUND when it does not exist or is not yours to see.' })
  chest(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Chest> {
    return getChest(ctx.em, ctx.actor, id);
  }

  @Query(() => Chest, {
    description: 'The chest a share link opens. Its nested fields are then readable in the same request. NOT_FOUND once revoked or expired.',
  })
  chestByShareToken(@Arg('token', () => String) token: string, @Ctx() ctx: Context): Promise<Chest> {
    return openShareLinkAsClient(ctx.em, ctx.actor, token, ctx.guard);
  }

  @Query(() => ChestConnection, { description: 'Chests you are a member of, newest first (empty when signed out).' })
  async chests(@Args(() => ChestsArgs) args: ChestsArgs, @Ctx() ctx: Context): Promise<ConnectionShape<Chest>> {
    return toConnection(await listChests(ctx.em, ctx.actor, args, ctx.config.maxPageSize));
  }

  @Mutation(() => Chest, { description: 'Opens a chest for a person; you become its owner. Chests start private.' })
  createChest(@Arg('input', () => CreateChestInput) input: CreateChestInput, @Ctx() ctx: Context): Promise<Chest> {
    return createChest(ctx.em, ctx.actor, { ...input });
  }

  @Mutation(() => Chest)
  updateChest(
    @Arg('id', () => ID) id: string,
    @Arg('input', () => UpdateChestInput) input: UpdateChestInput,
    @Ctx() ctx: Context,
  ): Promise<Chest> {
    return updateChest(ctx.em, ctx.actor, id, { ...input });
  }

  @Mutation(() => Chest, { description: 'Moves a chest to the bin; restoreChest brings it back. Nothing is erased.' })
  deleteChest(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Chest> {
    return deleteChest(ctx.em, ctx.actor, id);
  }

  @Mutation(() => Chest)
  restoreChest(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Chest> {
    return restoreChest(ctx.em, ctx.actor, id);
  }

  @Mutation(() => IssuedLink, {
    description:
      'Owners: a view link for people without an account. Replaces any earlier one. Its holders get metadata-free copies (Asset.previewUrl, thumbnails) and neutral file names, never originals, unless allowOriginals.',
  })
  createShareLink(
    @Arg('chestId', () => ID) chestId: string,
    @Arg('expiresAt', () => GraphQLISODateTime, { nullable: true }) expiresAt: Date | null,
    @Arg('allowOriginals', () => Boolean, {
      nullable: true,
      defaultValue: false,
      description:
        "Also hand this link's holders the original files and their file names. Originals may reveal where things were recorded (GPS in photos, videos and voice memos) and who made them (authors in documents). Default false.",
    })
    allowOriginals: boolean | null,
    @Ctx() ctx: Context,
  ): Promise<IssuedLink> {
    return createShareLink(ctx.em, ctx.actor, chestId, { expiresAt, allowOriginals });
  }

  @Mutation(() => Chest, { description: 'Owners: the view link stops working at once.' })
  revokeShareLink(@Arg('chestId', () => ID) chestId: string, @Ctx() ctx: Context): Promise<Chest> {
    return revokeShareLink(ctx.em, ctx.actor, chestId);
  }

  @Mutation(() => IssuedLink, { description: 'Owners: a link through which guests send contributions. Needs allowContributions.' })
  createContributionLink(
    @Arg('chestId', () => ID) chestId: string,
    @Arg('expiresAt', () => GraphQLISODateTime, { nullable: true }) expiresAt: Date | null,
    @Ctx() ctx: Context,
  ): Promise<IssuedLink> {
    return createContributionLink(ctx.em, ctx.actor, chestId, { expiresAt });
  }

  @Mutation(() => Chest, { description: 'Owners: the contribution link stops working at once.' })
  revokeContributionLink(@Arg('chestId', () => ID) chestId: string, @Ctx() ctx: Context): Promise<Chest> {
    return revokeContributionLink(ctx.em, ctx.actor, chestId);
  }

  @FieldResolver(() => ChestRole, { nullable: true, description: 'Your role here, or null.' })
  myRole(@Root() chest: Chest, @Ctx() ctx: Context): Promise<ChestRole | null> | null {
    return myRole(ctx.actor, chest);
  }

  @FieldResolver(() => [Membership], { description: 'The people of this chest (members only).' })
  members(@Root() chest: Chest, @Ctx() ctx: Context): Promise<Membership[]> {
    return listMembers(ctx.actor, chest, (id) => ctx.loaders.members.load(id));
  }

  @FieldResolver(() => ChestLinks, { description: 'Owners only.' })
  links(@Root() chest: Chest, @Ctx() ctx: Context): Promise<ChestLinks> {
    return getChestLinks(ctx.actor, chest);
  }

  @FieldResolver(() => Asset, { nullable: true })
  heroImage(@Root() chest: Chest, @Ctx() ctx: Context): Promise<Asset | null> | null {
    return chest.heroImage ? ctx.loaders.assetsById.load(chest.heroImage.id) : null;
  }

  @FieldResolver(() => AssetConnection, {
    description: 'Memories by date taken (newest first, undated last), then by when they were added.',
  })
  async assets(
    @Root() chest: Chest,
    @Args(() => AssetsArgs) args: AssetsArgs,
    @Ctx() ctx: Context,
    @Info() info: GraphQLResolveInfo,
  ): Promise<ConnectionShape<Asset>> {
    const properties = assetPropertiesFor(info, ['edges', 'node']);
    const { key, countKey } = assetPageKey({ chest, args, maxPageSize: ctx.config.maxPageSize, properties });
    return toConnection(await ctx.loaders.assetPages.load(key), countKey);
  }

  @FieldResolver(() => StoryConnection, { description: 'Stories, newest first. Non-members see published ones only.' })
  async stories(@Root() chest: Chest, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context, @Info() info: GraphQLResolveInfo) {
    const key = storyPageKey({ chest, args, maxPageSize: ctx.config.maxPageSize, publishedOnly: await storiesPublishedOnly(ctx.actor, chest) });
    const page = ctx.loaders.storyPages.load(key);
    // The chest's name scrubber with the page, when its stories' text is asked: then each title is a plain value, not a promise per story.
    if (asksStoryText(fieldsAt(info, ['edges', 'node']))) await ctx.loaders.nameScrubbers.load(chest.id);
    return toConnection(await page);
  }

  @FieldResolver(() => ContributionConnection, { description: 'Guest contributions, newest first (owners and editors).' })
  async contributions(@Root() chest: Chest, @Args(() => ContributionsArgs) args: ContributionsArgs, @Ctx() ctx: Context) {
    await assertMaySeeContributions(ctx.actor, chest);
    return toConnection(await ctx.loaders.contributionPages.load(contributionPageKey({ chest, args, maxPageSize: ctx.config.maxPageSize })));
  }

  @FieldResolver(() => ChestSummary)
  summary(@Root() chest: Chest, @Ctx() ctx: Context): Promise<ChestSummary> {
    return ctx.loaders.chestStats.load(chest.id);
  }
}

@Resolver(() => ChestSummary)
export class ChestSummaryResolver {
  // Its own field resolver and loader: the summary's counts do not read these rows.
  @FieldResolver(() => [Asset], { description: 'The 10 memories added last, newest first.' })
  recentAssets(@Root() summary: ChestSummary, @Ctx() ctx: Context): Promise<Asset[]> {
    return ctx.loaders.recentAssets.load(summary.chestId);
  }
}

@Resolver(() => AssetConnection)
export class AssetConnectionResolver {
  @FieldResolver(() => Int, { description: 'All memories matching the filter, across pages.' })
  totalCount(@Root() conn: ConnectionShape<Asset>, @Ctx() ctx: Context): Promise<number> {
    return ctx.loaders.assetCounts.load(conn.countKey as { chestId: string; filter: AssetFilter });
  }
}
