import { Arg, Ctx, Field, ID, InputType, Mutation, Query, Resolver } from 'type-graphql';
import { ChestImport } from '../db/entities/index.js';
import { getImport, importChest } from '../domain/import/import.service.js';
import type { Context } from './context.js';

@InputType()
export class ImportChestInput {
  @Field(() => ID, { description: 'A COMPLETE upload you made with createUpload(purpose: ARCHIVE).' })
  uploadId!: string;
}

@Resolver(() => ChestImport)
export class ChestImportResolver {
  @Mutation(() => ChestImport, {
    description:
      'Any signed-in account: make a new chest, owned by you, from a chest archive (an export ZIP, format digital-memory-chest/1) you uploaded. Returns it QUEUED; follow chestImport(id) until DONE (see chest) or FAILED (see errorCode; no chest is made).',
  })
  importChest(@Arg('input', () => ImportChestInput) input: ImportChestInput, @Ctx() ctx: Context): Promise<ChestImport> {
    return importChest(ctx.em, ctx.actor, { uploadId: input.uploadId }, ctx.queue);
  }

  @Query(() => ChestImport, { description: 'One of your imports.' })
  chestImport(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<ChestImport> {
    return getImport(ctx.em, ctx.actor, id);
  }
}
