import type { Opt } from '@mikro-orm/core';
import { Entity, Enum, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Field, Int, ObjectType } from 'type-graphql';
import { StoryStatus, StoryStyle } from '../enums.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';
import { GenerationInfo, StoryParagraph, Theme, TimelineEntry } from './story.types.js';

/** A written life story: narrative, timeline and themes, each claim citing its memories. */
@ObjectType({
  simpleResolvers: true,
  description:
    'A written story of the person\'s life, citing the memories it came from. Its text never names a person the family hid (hidePerson), however it was written: their names read "someone".',
})
@Entity({ tableName: 'story' })
@Index({ name: 'story_chest_created_idx', properties: ['chest', 'createdAt', 'id'] })
export class Story extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  @Field(() => String)
  @Property({ type: 'varchar', length: 300 })
  title!: string;

  @Field(() => String, { description: 'The narrative, in Markdown.' })
  @Property({ type: 'text', default: '' })
  content: Opt<string> = '';

  @Field(() => StoryStyle)
  @Enum({ items: () => StoryStyle })
  style!: StoryStyle;

  @Field(() => StoryStatus)
  @Enum({ items: () => StoryStatus, default: StoryStatus.GENERATING })
  status: Opt<StoryStatus> = StoryStatus.GENERATING;

  @Field(() => String, { nullable: true, description: 'Why generation failed.' })
  @Property({ type: 'text', nullable: true })
  error: string | null = null;

  @Field(() => [TimelineEntry])
  @Property({ type: 'jsonb', default: '[]' })
  timeline: Opt<TimelineEntry[]> = [];

  @Field(() => [Theme])
  @Property({ type: 'jsonb', default: '[]' })
  themes: Opt<Theme[]> = [];

  @Field(() => GenerationInfo, { nullable: true })
  @Property({ type: 'jsonb', nullable: true })
  generation: GenerationInfo | null = null;

  @Field(() => Int, { description: 'Edits make new versions; the first is 1.' })
  @Property({ type: 'integer', default: 1 })
  version: Opt<number> = 1;

  @Field(() => Boolean)
  @Property({ type: 'boolean', default: false })
  published: Opt<boolean> = false;

  @Field(() => [StoryParagraph], { description: 'The narrative by paragraph, each with the memories it cites.' })
  @Property({ type: 'jsonb', default: '[]' })
  paragraphs: Opt<StoryParagraph[]> = [];

  /** The first version's id: every version of one story shares it. */
  @Property({ type: 'uuid', nullable: true, index: true })
  lineageId: string | null = null;

  /** Who wrote this version by hand (null: written by the AI). */
  @Property({ type: 'uuid', nullable: true })
  editedBy: string | null = null;

  @Field(() => Boolean, { description: 'The story includes a timeline (as requested when it was generated).' })
  @Property({ type: 'boolean', default: true })
  includeTimeline: Opt<boolean> = true;

  @Field(() => Boolean)
  @Property({ type: 'boolean', default: true })
  includeThemes: Opt<boolean> = true;
}
