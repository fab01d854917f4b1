import { Field, Float, ObjectType } from 'type-graphql';
import type { Thumbnail } from './asset.types.js';

/** Where a face is in its picture: fractions 0..1 of the upright picture's width and height, from its top left corner. */
@ObjectType({ simpleResolvers: true, description: "Where a face is in its picture, as fractions (0 to 1) of the upright picture's width and height from its top left corner." })
export class FaceBox {
  @Field(() => Float)
  x!: number;

  @Field(() => Float)
  y!: number;

  @Field(() => Float)
  width!: number;

  @Field(() => Float)
  height!: number;
}

/**
 * The copies of a photo's thumbnails (or a video's posters) in which the faces of hidden people are blurred: what
 * people outside the family receive instead of the thumbnails (domain/people/redaction.ts).
 * Server-side only.
 */
export interface AssetRedaction {
  /** Which faces (ids and boxes) were blurred; the copies are served only while it still matches. */
  signature: string;
  /** Named "<thumbnail>-blurred", one per thumbnail. */
  thumbnails: Thumbnail[];
  /**
   * ThumbHash (base64) of the largest blurred copy: the placeholder non-members get. Absent in
   * records made before it existed; those give non-members no placeholder until re-made.
   */
  placeholder?: string | null;
}
