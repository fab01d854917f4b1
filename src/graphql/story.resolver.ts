import { Arg, Ctx, Field, FieldResolver, ID, InputType, Mutation, ObjectType, Query, Resolver, Root, Subscription } from 'type-graphql';
import { Chest, Story } from '../db/entities/index.js';
import { StoryParagraph, Theme, TimelineEntry } from '../db/entities/story.types.js';
import { StoryStatus, StoryStyle } from '../db/enums.js';
import { publishedStoryOf } from '../domain/chest/chest.nested.js';
import { editStory, generateStory, getStory, publishStory, type StoryProgressEvent, storyVersions } from '../domain/story/story.service.js';
import { watchStory } from '../domain/story/story-watch.js';
import { hiddenNamesOf, nameScrubber } from '../domain/story/hidden-names.js';
import type { Maybe } from '../domain/access/access.service.js';
import type { Context } from './context.js';

@InputType()
export class GenerateStoryInput {
  @Field(() => ID)
  chestId!: string;

  @Field(() => StoryStyle, { defaultValue: StoryStyle.COMPREHENSIVE })
  style!: StoryStyle;

  @Field(() => Boolean, { defaultValue: true })
  includeTimeline!: boolean;

  @Field(() => Boolean, { defaultValue: true })
  includeThemes!: boolean;
}

@InputType()
export class EditStoryInput {
  @Field(() => String, { nullable: true, description: 'Up to 300 characters.' })
  title?: string | null;

  @Field(() => String, { nullable: true, description: 'The narrative; paragraphs separated by blank lines. Unchanged paragraphs keep their citations.' })
  content?: string | null;
}

@ObjectType({ simpleResolvers: true, description: 'A story being written.' })
export class StoryProgress {
  @Field(() => ID)
  storyId!: string;

  @Field(() => StoryStatus)
  status!: StoryStatus;

  @Field(() => String, { description: 'The narrative so far.' })
  narrative!: string;

  @Field(() => String, { nullable: true })
  error!: string | null;
}

@Resolver(() => Story)
export class StoryResolver {
  @Query(() => Story, { description: "One story: members see every version, others only the chest's published one." })
  story(@Arg('id', () => ID) id: string, @Ctx() ctx: Context): Promise<Story> {
    return getStory(ctx.em, ctx.actor, id);
  }

  @Query(() => [Story], { description: 'Every version of a story, newest first. Members.' })
  storyVersions(@Arg('storyId', () => ID) storyId: string, @Ctx() ctx: Context): Promise<Story[]> {
    return storyVersions(ctx.em, ctx.actor, storyId);
  }

  @Mutation(() => Story, {
    description: 'Editors and owners: write a story from the processed memories. Returns it GENERATING; follow storyProgress, or wait for storyReady.',
  })
  generateStory(@Arg('input', () => GenerateStoryInput) input: GenerateStoryInput, @Ctx() ctx: Context): Promise<Story> {
    return generateStory(ctx.em, ctx.actor, input, ctx.queue);
  }

  @Mutation(() => Story, { description: 'Editors and owners: a new version with a new title and/or text. The old version stays.' })
  editStory(@Arg('storyId', () => ID) storyId: string, @Arg('input', () => EditStoryInput) input: EditStoryInput, @Ctx() ctx: Context): Promise<Story> {
    return editStory(ctx.em, ctx.actor, storyId, { title: input.title ?? undefined, content: input.content ?? undefined });
  }

  @Mutation(() => Story, { description: "Owners: make this version the chest's published story (the one readers see)." })
  publishStory(@Arg('storyId', () => ID) storyId: string, @Ctx() ctx: Context): Promise<Story> {
    return publishStory(ctx.em, ctx.actor, storyId);
  }

  // Consent, as the story is read: the names of people hidden since it was written (or typed into it) are rewritten (domain/story/hidden-names.ts).
  // The fields' descriptions are the entity's.
  // At once when the chest's scrubber is already loaded (Chest.stories loads it with the page when these fields are asked).
  @FieldResolver(() => String)
  title(@Root() story: Story, @Ctx() ctx: Context): Maybe<string> {
    return this.scrubbed(story, ctx, (scrub) => scrub(story.title));
  }

  @FieldResolver(() => String)
  content(@Root() story: Story, @Ctx() ctx: Context): Maybe<string> {
    return this.scrubbed(story, ctx, (scrub) => scrub(story.content));
  }

  @FieldResolver(() => [StoryParagraph])
  paragraphs(@Root() story: Story, @Ctx() ctx: Context): Maybe<StoryParagraph[]> {
    return this.scrubbed(story, ctx, (scrub) => story.paragraphs.map((p) => ({ ...p, text: scrub(p.text) })));
  }

  @FieldResolver(() => [TimelineEntry])
  timeline(@Root() story: Story, @Ctx() ctx: Context): Maybe<TimelineEntry[]> {
    return this.scrubbed(story, ctx, (scrub) =>
      story.timeline.map((t) => ({ ...t, title: scrub(t.title), description: t.description == null ? t.description : scrub(t.description) })),
    );
  }

  @FieldResolver(() => [Theme])
  themes(@Root() story: Story, @Ctx() ctx: Context): Maybe<Theme[]> {
    return this.scrubbed(story, ctx, (scrub) =>
      story.themes.map((t) => ({ ...t, name: scrub(t.name), description: t.description == null ? t.description : scrub(t.description) })),
    );
  }

  /** `apply` with the chest's name scrubber: at once when it is loaded already, else once it is. */
  private scrubbed<T>(story: Story, ctx: Context, apply: (scrub: (text: string) => string) => T): Maybe<T> {
    const known = ctx.loaders.knownScrubber(story.chest.id);
    return known ? apply(known) : ctx.loaders.nameScrubbers.load(story.chest.id).then(apply);
  }

  @Subscription(() => StoryProgress, {
    description: 'The narrative of a story as it is written; the last event is READY or FAILED.',
    subscribe: ({ args, context }) => {
      const ctx = context as Context;
      return watchStory(ctx.em, ctx.fork, ctx.viewer, ctx.actor, args.storyId as string, ctx.events);
    },
  })
  async storyProgress(@Root() e: StoryProgressEvent, @Arg('storyId', () => ID) _storyId: string, @Ctx() ctx: Context): Promise<StoryProgress> {
    // A connection lives long: who is hidden is read afresh for each event, not from a loader's cache.
    const scrub = nameScrubber(await hiddenNamesOf(ctx.fork(), { id: e.chestId }));
    return { ...e, narrative: scrub(e.narrative) };
  }
}

@Resolver(() => Chest)
export class ChestStoryResolver {
  @FieldResolver(() => Story, { nullable: true, description: 'The story its owners published, for everyone who may read the chest.' })
  publishedStory(@Root() chest: Chest, @Ctx() ctx: Context): Promise<Story | null> {
    return publishedStoryOf(ctx.actor, chest, (id) => ctx.loaders.publishedStories.load(id));
  }
}
