import { GraphQLSafeInt } from 'graphql-scalars';
import { Arg, Ctx, Field, GraphQLISODateTime, ID, Int, Mutation, ObjectType, Query, Resolver, Root, Subscription } from 'type-graphql';
import { Asset, Contribution, Story } from '../db/entities/index.js';
import { ChestEventKind, ProcessingStatus } from '../db/enums.js';
import { badInput } from '../domain/errors.js';
import { listChestEvents, type VisibleChestEvent, watchChest } from '../domain/events/chest-watch.js';
import { retryProcessing } from '../domain/processing/retry.service.js';
import { analyseAgain } from '../domain/analysis/analyse-again.service.js';
import type { Context } from './context.js';

@ObjectType({ simpleResolvers: true, description: 'Where one memory is in processing.' })
export class ProcessingProgress {
  @Field(() => String, { description: 'e.g. "download", "thumbnails", "waveform", "extract", "done".' })
  stage!: string;

  @Field(() => Int, { description: '0 to 100.' })
  percent!: number;

  @Field(() => ProcessingStatus)
  status!: ProcessingStatus;

  @Field(() => String, { nullable: true, description: 'Why it failed (or why it will be tried again), in words meant for people.' })
  error!: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'A processing step of one memory, live.' })
export class AssetProcessingEvent extends ProcessingProgress {
  @Field(() => GraphQLSafeInt, { description: "The event's number in its chest (see chestEvents)." })
  seq!: number;

  @Field(() => Asset, { description: 'The memory as it is now.' })
  asset!: Asset;
}

@ObjectType('ChestEvent', { simpleResolvers: true, description: 'Something that happened in a chest, numbered in order per chest.' })
export class ChestEventView {
  @Field(() => GraphQLSafeInt)
  seq!: number;

  @Field(() => ChestEventKind)
  kind!: ChestEventKind;

  @Field(() => GraphQLISODateTime)
  at!: Date;

  @Field(() => Asset, { nullable: true })
  asset!: Asset | null;

  @Field(() => Story, { nullable: true })
  story!: Story | null;

  @Field(() => Contribution, { nullable: true })
  contribution!: Contribution | null;

  @Field(() => ProcessingProgress, { nullable: true, description: 'For ASSET_PROCESSING: the step reported.' })
  processing!: ProcessingProgress | null;

  @Field(() => ID, { nullable: true, description: 'For MEMORY_REMOVED: the id of the memory that was moved to the bin (it is no longer readable, so `asset` is null).' })
  removedAssetId!: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'A memory left the chest: moved to the bin (deleteMemory). Only its id: drop it from what you show.' })
export class MemoryRemovedEvent {
  @Field(() => GraphQLSafeInt, { description: "The event's number in its chest (see chestEvents)." })
  seq!: number;

  @Field(() => ID)
  assetId!: string;
}

@ObjectType({ simpleResolvers: true })
export class ChestEventPage {
  @Field(() => [ChestEventView], { description: 'Oldest first; only what you may see.' })
  events!: ChestEventView[];

  @Field(() => GraphQLSafeInt, { description: 'Pass as `since` next time.' })
  lastSeq!: number;

  @Field(() => Boolean)
  hasMore!: boolean;
}

const progressOf = (e: VisibleChestEvent): ProcessingProgress | null => {
  const d = e.event.data;
  if (e.event.kind !== ChestEventKind.ASSET_PROCESSING || !d) return null;
  return { stage: String(d.stage), percent: Number(d.percent), status: d.status as ProcessingStatus, error: (d.error as string | null) ?? null };
};

const view = (e: VisibleChestEvent): ChestEventView => ({
  seq: e.event.seq,
  kind: e.event.kind,
  at: new Date(e.event.at),
  asset: e.asset,
  story: e.story,
  contribution: e.contribution,
  processing: progressOf(e),
  removedAssetId: e.event.kind === ChestEventKind.MEMORY_REMOVED ? e.event.assetId : null,
});

function watch(ctx: Context, chestId: string, kinds: ChestEventKind[]) {
  return watchChest(ctx.em, ctx.fork, ctx.viewer, ctx.actor, chestId, kinds, ctx.events);
}

@Resolver()
export class EventsResolver {
  @Query(() => ChestEventPage, {
    description: 'Catch up after being away: the events after `since` (0 = from the start), oldest first. Anyone who may read the chest.',
  })
  chestEvents(
    @Arg('chestId', () => ID) chestId: string,
    @Arg('since', () => GraphQLSafeInt, { defaultValue: 0 }) since: number,
    @Arg('first', () => Int, { defaultValue: 100 }) first: number,
    @Ctx() ctx: Context,
  ): Promise<ChestEventPage> {
    if (since < 0) throw badInput('since', 'since: must be 0 or more');
    if (first < 1 || first > ctx.config.maxPageSize) throw badInput('first', `first: must be between 1 and ${ctx.config.maxPageSize}`);
    return listChestEvents(ctx.em, ctx.actor, chestId, since, first).then((p) => ({ ...p, events: p.events.map(view) }));
  }

  @Mutation(() => Asset, {
    description: 'Process a FAILED memory again, or a recording or video processed before previews existed (so non-members get its previewUrl). Owners.',
  })
  retryProcessing(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<Asset> {
    return retryProcessing(ctx.em, ctx.actor, assetId, ctx.queue, ctx.events);
  }

  @Mutation(() => Asset, {
    description:
      'Run the AI step again on a processed (COMPLETE) memory: its tags, caption, transcript and text from the AI are replaced by the new run\'s, what people wrote stays. Owners and editors. While a run is queued or under way, asking again queues nothing more. CONFLICT for a memory not COMPLETE.',
  })
  analyseAgain(@Arg('assetId', () => ID) assetId: string, @Ctx() ctx: Context): Promise<Asset> {
    return analyseAgain(ctx.em, ctx.actor, assetId, ctx.queue, ctx.events);
  }

  @Subscription(() => AssetProcessingEvent, {
    description: 'Each processing step of the memories in a chest, as it happens. Anyone who may read the chest.',
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, [ChestEventKind.ASSET_PROCESSING]),
  })
  assetProcessing(@Root() e: VisibleChestEvent, @Arg('chestId', () => ID) _chestId: string): AssetProcessingEvent {
    return { ...progressOf(e)!, seq: e.event.seq, asset: e.asset! };
  }

  @Subscription(() => Asset, {
    description: 'A memory that became visible in a chest (uploaded by a member, or in a contribution just approved).',
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, [ChestEventKind.MEMORY_ADDED]),
  })
  memoryAdded(@Root() e: VisibleChestEvent, @Arg('chestId', () => ID) _chestId: string): Asset {
    return e.asset!;
  }

  @Subscription(() => MemoryRemovedEvent, {
    description: 'A memory left the chest (moved to the bin): its id, for anyone who may read the chest. restoreMemory brings it back through memoryAdded.',
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, [ChestEventKind.MEMORY_REMOVED]),
  })
  memoryRemoved(@Root() e: VisibleChestEvent, @Arg('chestId', () => ID) _chestId: string): MemoryRemovedEvent {
    return { seq: e.event.seq, assetId: e.event.assetId! };
  }

  @Subscription(() => Story, {
    description: 'A story finished writing. Unpublished stories reach members only.',
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, [ChestEventKind.STORY_READY]),
  })
  storyReady(@Root() e: VisibleChestEvent, @Arg('chestId', () => ID) _chestId: string): Story {
    return e.story!;
  }

  @Subscription(() => Contribution, {
    description: 'A guest sent a contribution. Owners and editors.',
    subscribe: ({ args, context }) => watch(context as Context, args.chestId as string, [ChestEventKind.CONTRIBUTION_SUBMITTED]),
  })
  contributionSubmitted(@Root() e: VisibleChestEvent, @Arg('chestId', () => ID) _chestId: string): Contribution {
    return e.contribution!;
  }
}
