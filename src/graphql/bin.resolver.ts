import { Arg, Args, Ctx, FieldResolver, ID, Int, Mutation, Resolver, Root } from 'type-graphql';
import { Account, Asset, Chest } from '../db/entities/index.js';
import { assertMaySeeBin, deleteMemory, emptyBin, mayBin, maySeeWhoBinned, purgeMemory, restoreMemory } from '../domain/asset/bin.service.js';
import { pageSize } from '../domain/pagination.js';
import { PageArgsGql } from './chest.types.js';
import { type ConnectionShape, connectionType, toConnection } from './connection.js';
import type { Context } from './context.js';

export const BinConnection = connectionType('Bin', Asset);

@Resolver(() => Asset)
export class BinResolver {
  @Mutation(() => Asset, {
    description:
      'Moves a memory to its chest\'s bin: it leaves lists, counts, search, downloads and new stories at once; existing stories show their citations of it as removed. Nothing is erased (restoreMemory, purgeMemory). Owners: any memory; editors: those they added. ALREADY_IN_BIN when it is there already.',
  })
  deleteMemory(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<Asset> {
    return deleteMemory(ctx.em, ctx.actor, { assetId }, ctx.events);
  }

  @Mutation(() => Asset, { description: 'Brings a memory back from the bin. Owners: any; editors: those they added. NOT_IN_BIN when it is not there.' })
  restoreMemory(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<Asset> {
    return restoreMemory(ctx.em, ctx.actor, { assetId }, { events: ctx.events, queue: ctx.queue });
  }

  @Mutation(() => Boolean, { description: 'Owners: erases a memory in the bin for good, with its files, faces and search entries. NOT_IN_BIN for a memory not in the bin.' })
  purgeMemory(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<boolean> {
    return purgeMemory(ctx.em, ctx.storage, ctx.actor, { assetId });
  }

  @Mutation(() => Int, { description: "Owners: erases every memory in the chest's bin, files and all; answers how many." })
  emptyBin(@Arg('chestId', () => ID) chestId: string, @Ctx() ctx: Context): Promise<number> {
    return emptyBin(ctx.em, ctx.storage, ctx.actor, { chestId });
  }

  @FieldResolver(() => Boolean, { description: 'Whether you may move it to the bin (deleteMemory): owners any memory, editors those they added.' })
  canDelete(@Root() asset: Asset, @Ctx() ctx: Context): Promise<boolean> {
    return mayBin(ctx.actor, asset, (id) => ctx.loaders.assetsById.load(id));
  }

  @FieldResolver(() => Account, { nullable: true, description: "Who moved it to the bin: the chest's owners only; null for everyone else, and when not binned." })
  async deletedBy(@Root() asset: Asset, @Ctx() ctx: Context): Promise<Account | null> {
    if (!asset.deletedBy || !(await maySeeWhoBinned(ctx.actor, asset.chest.id))) return null;
    return ctx.loaders.accountsById.load(asset.deletedBy.id);
  }
}

@Resolver(() => Chest)
export class ChestBinResolver {
  @FieldResolver(() => BinConnection, { description: 'Memories in the bin, newest deletion first (each with deletedAt and deletedBy). Owners only: FORBIDDEN for other readers.' })
  async bin(@Root() chest: Chest, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context): Promise<ConnectionShape<Asset>> {
    await assertMaySeeBin(ctx.actor, chest);
    const limit = pageSize(args.first, ctx.config.maxPageSize);
    return toConnection(await ctx.loaders.binPages.load({ chestId: chest.id, limit, after: args.after ?? null }));
  }
}
