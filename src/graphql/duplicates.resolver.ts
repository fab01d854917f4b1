import { Arg, Args, Ctx, FieldResolver, ID, Mutation, Resolver, Root } from 'type-graphql';
import { Asset, Chest } from '../db/entities/index.js';
import { assertMay } from '../domain/access/access.service.js';
import { contributorKind, contributorsOf, maySeeContributors } from '../domain/duplicates/contributors.js';
import { pageOfGroups } from '../domain/duplicates/duplicate-groups.queries.js';
import { dismissDuplicates, resolveDuplicates } from '../domain/duplicates/duplicates.service.js';
import { pageSize } from '../domain/pagination.js';
import { PageArgsGql } from './chest.types.js';
import { type ConnectionShape, toConnection } from './connection.js';
import type { Context } from './context.js';
import { ContributorKind, DuplicateGroup, DuplicateGroupConnection, MemoryContributor, ResolveDuplicatesInput } from './duplicates.types.js';

@Resolver(() => Chest)
export class ChestDuplicatesResolver {
  @FieldResolver(() => DuplicateGroupConnection, {
    description:
      "Owners and editors: groups of the chest's visible memories (members' and approved contributions') that are copies of one, oldest first. Each suggests which to keep.",
  })
  async duplicateGroups(@Root() chest: Chest, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context): Promise<ConnectionShape<DuplicateGroup>> {
    await assertMay(ctx.actor, chest, 'edit');
    const limit = pageSize(args.first, ctx.config.maxPageSize);
    return toConnection(pageOfGroups(await ctx.loaders.duplicateGroups.load(chest.id), limit, args.after));
  }

  @Mutation(() => Asset, {
    description:
      "Owners: keeps one memory and merges its copies into it (every person's caption, all tags, place, date and location where it has none, and who contributed each copy: Asset.contributors); the copies go to the chest's bin.",
  })
  resolveDuplicates(@Arg('input', () => ResolveDuplicatesInput) input: ResolveDuplicatesInput, @Ctx() ctx: Context): Promise<Asset> {
    return resolveDuplicates(ctx.em, ctx.actor, { ...input }, ctx.events);
  }

  @Mutation(() => Chest, { description: 'Owners: these memories (2 to 50) are not copies of each other; no pair of them is suggested again.' })
  dismissDuplicates(@Arg('assetIds', () => [ID]) assetIds: string[], @Ctx() ctx: Context): Promise<Chest> {
    return dismissDuplicates(ctx.em, ctx.actor, { assetIds });
  }
}

@Resolver(() => DuplicateGroup)
export class DuplicateGroupResolver {
  @FieldResolver(() => [Asset], { description: 'Its memories, oldest added first.' })
  async assets(@Root() group: DuplicateGroup, @Ctx() ctx: Context): Promise<Asset[]> {
    // A memory binned since the groups were read is left out.
    return (await ctx.loaders.assetsById.loadMany(group.assetIds)).filter((a): a is Asset => a !== null && !(a instanceof Error));
  }

  @FieldResolver(() => Asset, {
    nullable: true,
    description: "The one to keep: the most pixels (the least resized), then one with a person's caption, then the one added first.",
  })
  suggestedKeep(@Root() group: DuplicateGroup, @Ctx() ctx: Context): Promise<Asset | null> {
    return ctx.loaders.assetsById.load(group.keepId);
  }
}

@Resolver(() => Asset)
export class AssetContributorsResolver {
  @FieldResolver(() => [MemoryContributor], {
    nullable: true,
    description: 'Owners and editors: who added this memory, then who added each copy merged into it (resolveDuplicates). Null for everyone else.',
  })
  async contributors(@Root() asset: Asset, @Ctx() ctx: Context): Promise<MemoryContributor[] | null> {
    if (!(await maySeeContributors(ctx.actor, asset.chest.id))) return null;
    return Promise.all(
      contributorsOf(asset).map(async ({ imported, ...c }) => ({
        ...c,
        kind: contributorKind({ ...c, imported }) === 'GUEST' ? ContributorKind.GUEST : ContributorKind.MEMBER,
        name:
          (c.contributionId
            ? await ctx.loaders.contributorNames.load({ kind: 'contribution', id: c.contributionId })
            : c.accountId
              ? await ctx.loaders.contributorNames.load({ kind: 'account', id: c.accountId })
              : null) ??
          imported?.name ??
          null,
      })),
    );
  }
}
