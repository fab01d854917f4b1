import { Field, Float, GraphQLISODateTime, Int, ObjectType } from 'type-graphql';
import { TagSource } from '../enums.js';

/** Where a memory was made. Only members ever receive it (see the Asset.location resolver). */
@ObjectType({ simpleResolvers: true })
export class GeoLocation {
  @Field(() => Float)
  latitude!: number;

  @Field(() => Float)
  longitude!: number;

  @Field(() => Float, { nullable: true })
  altitude?: number | null;

  @Field(() => String, { nullable: true, description: 'A human place name, when one is known.' })
  placeName?: string | null;
}

/** A derivative image; its storage key stays server-side. */
@ObjectType({ simpleResolvers: true })
export class Thumbnail {
  @Field(() => String, { description: 'Size label, e.g. "256" or "1024".' })
  name!: string;

  @Field(() => Int)
  width!: number;

  @Field(() => Int)
  height!: number;

  @Field(() => String)
  mimeType!: string;

  storageKey!: string;
}

/**
 * The metadata-free copy of a recording or video (re-encoded by the worker), which is what people
 * outside the family receive instead of the original. Server-side only: Asset.previewUrl links it.
 */
export interface AssetPreview {
  /** Derivative name: "audio" or "video". */
  name: string;
  mimeType: string;
  size: number;
  storageKey: string;
}

@ObjectType({ simpleResolvers: true })
export class TranscriptSegment {
  @Field(() => Float, { description: 'Start, in seconds.' })
  start!: number;

  @Field(() => Float, { description: 'End, in seconds.' })
  end!: number;

  @Field(() => String)
  text!: string;
}

@ObjectType({ simpleResolvers: true })
export class Transcription {
  @Field(() => String)
  text!: string;

  @Field(() => String, { nullable: true, description: 'BCP 47 language tag, when detected.' })
  language?: string | null;

  @Field(() => [TranscriptSegment])
  segments!: TranscriptSegment[];

  @Field(() => Boolean, {
    description:
      'True when a simple offline recogniser (pocketsphinx) made it: many words may be wrong. Show it labelled as a rough transcript; it is never quoted as the speaker\'s words.',
  })
  rough!: boolean;

  @Field(() => Float, { nullable: true, description: 'How sure the recogniser was, from 0 to 1 (mean word confidence), when it says.' })
  confidence?: number | null;
}

@ObjectType({ simpleResolvers: true })
export class Tag {
  @Field(() => String)
  name!: string;

  @Field(() => TagSource)
  source!: TagSource;

  @Field(() => Float, { description: 'From 0 to 1.' })
  confidence!: number;
}

/** One AI task run on a memory: what ran it, and how it went. */
@ObjectType({ simpleResolvers: true })
export class Analysis {
  @Field(() => String, { description: '"transcribe", "describeImage", "extractText" or "keywords".' })
  task!: string;

  @Field(() => String, { description: 'DONE, FAILED (see error) or UNAVAILABLE (no provider can do it here; see error).' })
  status!: 'DONE' | 'FAILED' | 'UNAVAILABLE';

  @Field(() => String, { nullable: true })
  provider!: string | null;

  @Field(() => String, { nullable: true })
  model!: string | null;

  @Field(() => String, { nullable: true, description: 'Why it failed or could not run, in words meant for people.' })
  error!: string | null;

  @Field(() => GraphQLISODateTime)
  at!: Date;

  /** describeImage: the caption it wrote (not in the API), so a later run can tell the machine's caption from a person's. */
  caption?: string | null;

  /**
   * describeImage, when the caption was composed locally (ImageDescription.composedFrom; not in
   * the API): what it was composed from besides people, place and date, so that it can be
   * composed again when those change (domain/people/captions.ts). Absent for a remote model's text.
   */
  composedFrom?: { by: 'local'; objects: { label: string; count: number }[] } | null;
}
