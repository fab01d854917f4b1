import { GraphQLLocalDate } from 'graphql-scalars';
import { Field, Float, ID, InputType, ObjectType, registerEnumType } from 'type-graphql';
import { FileType } from '../db/enums.js';
import type { SearchField as SearchFieldName } from '../domain/search/search.queries.js';
import { connectionType } from './connection.js';

export enum SearchField {
  CAPTION = 'CAPTION',
  PLACE = 'PLACE',
  TAGS = 'TAGS',
  DOCUMENT_TEXT = 'DOCUMENT_TEXT',
  TRANSCRIPT = 'TRANSCRIPT',
  MEMORY = 'MEMORY',
  PERSON = 'PERSON',
  MESSAGE = 'MESSAGE',
  STORY = 'STORY',
  CHEST_NAME = 'CHEST_NAME',
  CHEST_DESCRIPTION = 'CHEST_DESCRIPTION',
}

registerEnumType(SearchField, {
  name: 'SearchField',
  description:
    "Where a search hit's words are. A memory's: CAPTION, PLACE (the family's words, never GPS), TAGS, DOCUMENT_TEXT (a document's or scan's text), TRANSCRIPT (one segment: see atSeconds), MEMORY (the words are spread over several of these texts of one memory, none holds them all; the snippet is from all of them), PERSON (the name of someone the memory shows). STORY: a story's text. MESSAGE: a guest's contribution message (owners and editors). CHEST_NAME, CHEST_DESCRIPTION: the chest's own.",
});

@InputType({ description: 'Narrows a search. Any of types, dateFrom, dateTo, tags and people leaves memories only; contributor leaves one contribution\'s memories and message.' })
export class SearchFilterInput {
  @Field(() => [FileType], { nullable: true, description: 'Only memories of these kinds.' })
  types?: FileType[] | null;

  @Field(() => GraphQLLocalDate, { nullable: true, description: 'Only memories taken on or after this day (UTC).' })
  dateFrom?: string | null;

  @Field(() => GraphQLLocalDate, { nullable: true, description: 'Only memories taken on or before this day (UTC).' })
  dateTo?: string | null;

  @Field(() => [String], { nullable: true, description: 'Only memories carrying every one of these tags (any case); up to 20.' })
  tags?: string[] | null;

  @Field(() => [ID], { nullable: true, description: 'Only memories showing every one of these people; up to 20. Outside the family only people it named and did not hide count.' })
  people?: string[] | null;

  @Field(() => ID, { nullable: true, description: 'A contribution id: only the memories it brought (once approved) and, for owners and editors, its message.' })
  contributor?: string | null;
}

/** A hit as the domain answers it; the nodes resolve through loaders. */
@ObjectType({ simpleResolvers: true, description: 'One place where the words were found. asset, story and contribution are all null for the chest\'s own name and description.' })
export class SearchHit {
  @Field(() => SearchField)
  field!: SearchFieldName;

  @Field(() => String, {
    description:
      'The words found in their context: matches between « and », fragments joined by " … ". Plain text, never markup: « » and < > in the text itself read ‹ ›.',
  })
  snippet!: string;

  @Field(() => Float, { nullable: true, description: "TRANSCRIPT: the start of the segment, in seconds into the recording or film." })
  atSeconds!: number | null;

  @Field(() => Float, { description: 'How well it matches (ts_rank); hits come best first.' })
  rank!: number;

  assetId!: string | null;
  storyId!: string | null;
  contributionId!: string | null;
}

export const SearchConnection = connectionType('Search', SearchHit);
