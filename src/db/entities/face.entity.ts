import type { Opt } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Field, Float, ObjectType } from 'type-graphql';
import { Asset } from './asset.entity.js';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';
import { FaceBox } from './face.types.js';
import { Person } from './person.entity.js';

/**
 * One face in one photo (or film), found by the AI step's face engine (ai/local/faces.ts): where it is,
 * how sure the detector was, its descriptor, and whom it belongs to. `assignedByPerson` marks a
 * person's decision (moveFace, mergePeople): re-running the AI step keeps those faces as they are.
 */
@ObjectType({ simpleResolvers: true, description: 'A face found in a photo or a film.' })
@Entity({ tableName: 'face' })
@Index({ name: 'face_chest_person_idx', properties: ['chest', 'person'] })
export class Face extends BaseEntity {
  @ManyToOne({ entity: () => Asset, deleteRule: 'cascade', index: true })
  asset!: Asset;

  /** The asset's chest, so that clustering compares faces within one chest in one index scan. */
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  /** Exposed through the Face.person resolver, which decides whom each caller may see. */
  @ManyToOne({ entity: () => Person, nullable: true, deleteRule: 'set null', index: true })
  person: Person | null = null;

  @Field(() => FaceBox)
  @Property({ type: 'jsonb' })
  box!: FaceBox;

  /**
   * A film's face found in a frame other than its poster: that frame's time, and `box` is in that
   * frame. Null: on the picture itself (a photo, a film's poster), the box its thumbnails show.
   */
  @Field(() => Float, {
    nullable: true,
    description: "In a video: seconds into the film of the frame the face was found in, when that is not the poster frame (its box is in that frame, not on the poster). Null on a photo and on a video's poster.",
  })
  @Property({ type: 'real', nullable: true })
  atSeconds: number | null = null;

  /** The detector's confidence, 0..1. */
  @Property({ type: 'real' })
  score!: number;

  /** 128 float32 numbers, little-endian: the face engine's descriptor. Never exposed. */
  @Property({ type: 'blob' })
  descriptor!: Buffer;

  /** A person put this face where it is (or nowhere): the AI step never moves it again. */
  @Property({ type: 'boolean', default: false })
  assignedByPerson: Opt<boolean> = false;

  /** The storage key of its WebP crop (a derivative of the asset), once made. Never exposed. */
  @Property({ type: 'text', nullable: true })
  cropKey: string | null = null;
}
