import { Arg, Ctx, Field, FieldResolver, Int, ObjectType, registerEnumType, Resolver, Root } from 'type-graphql';
import { Asset, Chest } from '../db/entities/index.js';
import type { TimelineGranularity as Granularity } from '../domain/chest/timeline.js';
import type { Context } from './context.js';

export enum TimelineGranularity {
  YEAR = 'YEAR',
  DECADE = 'DECADE',
}

registerEnumType(TimelineGranularity, { name: 'TimelineGranularity', description: 'YEAR: one bucket per year. DECADE: per ten years, from a year ending in 0.' });

@ObjectType({ simpleResolvers: true, description: 'How many memories of each kind.' })
export class TimelineCounts {
  @Field(() => Int)
  photos!: number;

  @Field(() => Int)
  videos!: number;

  @Field(() => Int, { description: 'Voice recordings and other audio.' })
  recordings!: number;

  @Field(() => Int)
  documents!: number;

  @Field(() => Int)
  total!: number;
}

@ObjectType({ simpleResolvers: true, description: 'The memories taken in one span of years.' })
export class TimelineBucket extends TimelineCounts {
  @Field(() => Int, { description: 'The first year of the span (UTC).' })
  startYear!: number;

  @Field(() => Int, { description: 'Its last year: startYear itself for YEAR, startYear + 9 for DECADE.' })
  endYear!: number;

  coverId!: string | null;
}

@ObjectType({ simpleResolvers: true, description: "The chest's memories by when they were taken: what Chest.assets shows the caller, counted per span." })
export class Timeline {
  @Field(() => TimelineGranularity)
  granularity!: Granularity;

  @Field(() => [TimelineBucket], { description: 'Spans that hold memories, oldest first; spans with none are left out.' })
  buckets!: TimelineBucket[];

  @Field(() => TimelineCounts, { description: 'Memories with no date taken.' })
  undated!: TimelineCounts;
}

/** Transport only: the timeline below a chest the caller already may read. */
@Resolver(() => Chest)
export class ChestTimelineResolver {
  @FieldResolver(() => Timeline, { description: 'Memories by date taken, in buckets of a year or a decade, with counts per kind and a cover photo; undated ones counted apart.' })
  timeline(
    @Root() chest: Chest,
    @Arg('granularity', () => TimelineGranularity, { defaultValue: TimelineGranularity.YEAR }) granularity: TimelineGranularity,
    @Ctx() ctx: Context,
  ): Promise<Timeline> {
    return ctx.loaders.timelines.load({ chestId: chest.id, granularity });
  }
}

@Resolver(() => TimelineBucket)
export class TimelineBucketResolver {
  @FieldResolver(() => Asset, { nullable: true, description: "A photo of the span (the oldest processed one, preferring one that shows nobody hidden); its pictures follow the memory's rules for the caller." })
  cover(@Root() bucket: TimelineBucket, @Ctx() ctx: Context): Promise<Asset | null> | null {
    return bucket.coverId ? ctx.loaders.assetsById.load(bucket.coverId) : null;
  }
}
