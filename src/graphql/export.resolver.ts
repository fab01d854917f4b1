import { Arg, Args, Ctx, Field, FieldResolver, ID, InputType, Mutation, Query, Resolver, Root, Subscription } from 'type-graphql';
import { Chest, ChestExport } from '../db/entities/index.js';
import { assertMay } from '../domain/access/access.service.js';
import { exportChest, exportDownloadUrl, getExport } from '../domain/export/export.service.js';
import { watchExports } from '../domain/export/export-watch.js';
import { pageSize } from '../domain/pagination.js';
import { connectionType, type ConnectionShape, toConnection } from './connection.js';
import { PageArgsGql } from './chest.types.js';
import type { Context } from './context.js';

export const ChestExportConnection = connectionType('ChestExport', ChestExport);

@InputType()
export class ExportChestInput {
  @Field(() => Boolean, {
    description: 'Keep where memories were made: GPS in the originals and coordinates in chest.json. False: photos are written again without any metadata, recordings and films are their metadata-free previews, and chest.json has no coordinates.',
  })
  includeLocation!: boolean;
}

function watch(ctx: Context, chestId: string, finishedOnly: boolean) {
  return watchExports({ em: ctx.em, newEm: ctx.fork, viewer: ctx.viewer, actor: ctx.actor, chestId, bus: ctx.events, finishedOnly });
}

@Resolver(() => ChestExport)
export class ChestExportResolver {
  @Mutation(() => ChestExport, {
    description:
      'Owners: write an archive of the whole chest (one ZIP: originals, chest.json with every record, the published story as story.md and story.html, and an index.html that shows the chest offline). Returns it QUEUED; follow exportProgress or wait for exportReady, then download it from downloadUrl. CONFLICT while two archives of the chest are already being written.',
  })
  exportChest(@Arg('chestId', () => ID) chestId: string, @Arg('input', () => ExportChestInput) input: ExportChestInput, @Ctx() ctx: Context): Promise<ChestExport> {
    return exportChest(ctx.em, ctx.actor, { chestId, includeLocation: input.includeLocation }, ctx.queue);
  }

  @Query(() => ChestExport, { description: 'One archive of a chest. Owners.' })
  export(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<ChestExport> {
    return getExport(ctx.em, ctx.actor, id);
  }

  @FieldResolver(() => String, {
    nullable: true,
    description: 'When READY and not expired: a link that downloads the ZIP, valid for 15 minutes (ask again for a new one). Null otherwise.',
  })
  downloadUrl(@Root() row: ChestExport, @Ctx() ctx: Context): Promise<string | null> {
    return exportDownloadUrl({ em: ctx.em, row, storage: ctx.storage, secret: ctx.config.secretKey });
  }

  @Subscription(() => ChestExport, {
    description: "Each step of the chest's archives being written (RUNNING with progress, then READY or FAILED). Owners.",
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, false),
  })
  exportProgress(@Root() row: ChestExport, @Arg('chestId', () => ID) _chestId: string): ChestExport {
    return row;
  }

  @Subscription(() => ChestExport, {
    description: 'An archive of the chest finished: READY (download it from downloadUrl) or FAILED (see error). Owners.',
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, true),
  })
  exportReady(@Root() row: ChestExport, @Arg('chestId', () => ID) _chestId: string): ChestExport {
    return row;
  }
}

@Resolver(() => Chest)
export class ChestExportsResolver {
  @FieldResolver(() => ChestExportConnection, { description: 'Archives of this chest, newest first. Owners.' })
  async exports(@Root() chest: Chest, @Args(() => PageArgsGql) args: PageArgsGql, @Ctx() ctx: Context): Promise<ConnectionShape<ChestExport>> {
    await assertMay(ctx.actor, chest, 'manage');
    const limit = pageSize(args.first, ctx.config.maxPageSize);
    return toConnection(await ctx.loaders.exportPages.load({ chestId: chest.id, limit, after: args.after ?? null }));
  }
}
