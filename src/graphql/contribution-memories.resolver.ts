import { Arg, Args, Ctx, FieldResolver, GraphQLISODateTime, ID, Mutation, Resolver, Root } from 'type-graphql';
import { Asset, Contribution } from '../db/entities/index.js';
import {
  approveContributionMemory,
  maySeeContributionAssets,
  rejectContributionMemory,
} from '../domain/contribution/contribution-memories.js';
import { pageSize } from '../domain/pagination.js';
import { PageArgsGql } from './chest.types.js';
import { type ConnectionShape, connectionType, toConnection } from './connection.js';
import type { Context } from './context.js';

export const ContributionMemoryConnection = connectionType('ContributionMemory', Asset);

@Resolver(() => Contribution)
export class ContributionMemoriesResolver {
  @FieldResolver(() => ContributionMemoryConnection, {
    nullable: true,
    description:
      "The memories sent with it, in the order they came, with thumbnails to review them by (approved ones too; rejected ones are erased). The chest's owners and editors only; null for everyone else, the guest included.",
  })
  async assets(@Root() contribution: Contribution, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context): Promise<ConnectionShape<Asset> | null> {
    if (!(await maySeeContributionAssets(ctx.actor, contribution))) return null;
    const limit = pageSize(args.first, ctx.config.maxPageSize);
    return toConnection(await ctx.loaders.contributionAssetPages.load({ contributionId: contribution.id, limit, after: args.after ?? null }));
  }

  @Mutation(() => Asset, {
    description:
      'Owners: one memory of a pending contribution joins the chest now (visible to all who may read it); the rest keeps waiting. ALREADY_REVIEWED when it or its contribution was approved already, or the contribution was rejected.',
  })
  approveContributionMemory(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<Asset> {
    return approveContributionMemory(ctx.em, ctx.actor, { assetId }, ctx.events);
  }

  @Mutation(() => Contribution, {
    description:
      'Owners: one memory of a pending contribution is refused and erased at once, its files too; it can never become visible, even when the contribution is approved later. ALREADY_REVIEWED as for approveContributionMemory.',
  })
  rejectContributionMemory(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<Contribution> {
    return rejectContributionMemory(ctx.em, ctx.storage, ctx.actor, { assetId });
  }
}

@Resolver(() => Asset)
export class AssetReviewResolver {
  @FieldResolver(() => GraphQLISODateTime, {
    nullable: true,
    description: "A guest's memory that an owner approved on its own (approveContributionMemory): when. Owners and editors only; null otherwise.",
  })
  async approvedAt(@Root() asset: Asset, @Ctx() ctx: Context): Promise<Date | null> {
    if (!asset.approvedAt || !asset.contribution) return null;
    return (await maySeeContributionAssets(ctx.actor, { chest: asset.chest })) ? asset.approvedAt : null;
  }
}
