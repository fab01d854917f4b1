import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from 'type-graphql';
import { Asset, Chest } from '../db/entities/index.js';
import type { AssetFilter } from '../domain/asset/asset.queries.js';
import {
  createChest,
  deleteChest,
  getChest,
  getChestByShareToken,
  listChests,
  restoreChest,
  rotateShareToken,
  updateChest,
} from '../domain/chest/chest.service.js';
import { pageSize } from '../domain/pagination.js';
import {
  AssetConnection,
  AssetsArgs,
  ChestConnection,
  ChestsArgs,
  ChestSummary,
  ChestWithShareToken,
  ContributionConnection,
  ContributionsArgs,
  CreateChestInput,
  PageArgsGql,
  StoryConnection,
  UpdateChestInput,
} from './chest.types.js';
import { type ConnectionShape, toConnection } from './connection.js';
import type { Context } from './context.js';

/** Transport only: read arguments, call one domain function, shape the result. */
@Resolver(() => Chest)
export class ChestResolver {
  @Query(() => Chest, { description: 'A chest by id. NOT_FOUND when it does not exist or is not yours to see.' })
  chest(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Chest> {
    return getChest(ctx.em, ctx.actor, id);
  }

  @Query(() => Chest, { description: 'The chest a share token opens.' })
  chestByShareToken(@Arg('token', () => String) token: string, @Ctx() ctx: Context): Promise<Chest> {
    return getChestByShareToken(ctx.em, ctx.actor, token);
  }

  @Query(() => ChestConnection, { description: 'Chests, newest first.' })
  async chests(@Args(() => ChestsArgs) args: ChestsArgs, @Ctx() ctx: Context): Promise<ConnectionShape<Chest>> {
    return toConnection(await listChests(ctx.em, ctx.actor, args, ctx.maxPageSize));
  }

  @Mutation(() => ChestWithShareToken, { description: 'Opens a chest for a person.' })
  createChest(@Arg('input', () => CreateChestInput) input: CreateChestInput, @Ctx() ctx: Context): Promise<ChestWithShareToken> {
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

  @Mutation(() => ChestWithShareToken, { description: 'Issues a new share token; the old one stops working.' })
  rotateShareToken(@Arg('chestId', () => ID) chestId: string, @Ctx() ctx: Context): Promise<ChestWithShareToken> {
    return rotateShareToken(ctx.em, ctx.actor, chestId);
  }

  @FieldResolver(() => Asset, { nullable: true })
  heroImage(@Root() chest: Chest, @Ctx() ctx: Context): Promise<Asset | null> | null {
    return chest.heroImage ? ctx.loaders.assetsById.load(chest.heroImage.id) : null;
  }

  @FieldResolver(() => AssetConnection, {
    description: 'Memories by date taken (newest first, undated last), then by when they were added.',
  })
  async assets(@Root() chest: Chest, @Args(() => AssetsArgs) args: AssetsArgs, @Ctx() ctx: Context): Promise<ConnectionShape<Asset>> {
    const filter: AssetFilter = { fileTypes: args.types ?? null, statuses: args.statuses ?? null };
    const limit = pageSize(args.first, ctx.maxPageSize);
    const page = await ctx.loaders.assetPages.load({ chestId: chest.id, limit, after: args.after ?? null, filter });
    return toConnection(page, { chestId: chest.id, filter });
  }

  @FieldResolver(() => StoryConnection, { description: 'Stories, newest first.' })
  async stories(@Root() chest: Chest, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context) {
    const limit = pageSize(args.first, ctx.maxPageSize);
    return toConnection(await ctx.loaders.storyPages.load({ chestId: chest.id, limit, after: args.after ?? null }));
  }

  @FieldResolver(() => ContributionConnection, { description: 'Guest contributions, newest first.' })
  async contributions(@Root() chest: Chest, @Args(() => ContributionsArgs) args: ContributionsArgs, @Ctx() ctx: Context) {
    const limit = pageSize(args.first, ctx.maxPageSize);
    const key = { chestId: chest.id, limit, after: args.after ?? null, status: args.status ?? null };
    return toConnection(await ctx.loaders.contributionPages.load(key));
  }

  @FieldResolver(() => ChestSummary)
  summary(@Root() chest: Chest, @Ctx() ctx: Context): Promise<ChestSummary> {
    return ctx.loaders.chestStats.load(chest.id);
  }
}

@Resolver(() => AssetConnection)
export class AssetConnectionResolver {
  @FieldResolver(() => Int, { description: 'All memories matching the filter, across pages.' })
  totalCount(@Root() conn: ConnectionShape<Asset>, @Ctx() ctx: Context): Promise<number> {
    return ctx.loaders.assetCounts.load(conn.countKey as { chestId: string; filter: AssetFilter });
  }
}
