import { Field, GraphQLISODateTime, ID, Int, ObjectType } from 'type-graphql';

/** One dated event in a life, with the memories that show it. */
@ObjectType({ simpleResolvers: true })
export class TimelineEntry {
  @Field(() => String, { description: 'ISO date or partial date ("1962", "1962-06", "1962-06-01").' })
  date!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => [ID], { description: 'The assets this entry is drawn from.' })
  assetIds!: string[];
}

@ObjectType({ simpleResolvers: true })
export class Theme {
  @Field(() => String)
  name!: string;

  @Field(() => String, { nullable: true })
  description?: string | null;

  @Field(() => [ID], { description: 'The assets this theme is drawn from.' })
  assetIds!: string[];
}

/** One paragraph of the narrative and the memories it draws on. */
@ObjectType({ simpleResolvers: true })
export class StoryParagraph {
  @Field(() => String)
  text!: string;

  @Field(() => [ID], { description: 'The memories this paragraph draws on; empty for text a person wrote.' })
  assetIds!: string[];
}

/** Which provider and model wrote a story, and when. */
@ObjectType({ simpleResolvers: true })
export class GenerationInfo {
  @Field(() => String)
  provider!: string;

  @Field(() => String)
  model!: string;

  @Field(() => GraphQLISODateTime)
  generatedAt!: Date;

  @Field(() => Int, { nullable: true })
  durationMs?: number | null;

  @Field(() => Int, { nullable: true, description: 'Claims the writer made without a valid citation, left out of the story.' })
  droppedClaims?: number | null;

  @Field(() => Int, { nullable: true, description: 'Memories of a chest larger than the story bound that the writer was not given (the life thinned evenly across the years; memories after the passing and contributions kept).' })
  leftOutMemories?: number | null;
}
