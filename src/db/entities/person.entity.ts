import type { Opt } from '@mikro-orm/core';
import { Entity, Index, ManyToOne, Property } from '@mikro-orm/decorators/legacy';
import { Field, ObjectType } from 'type-graphql';
import { BaseEntity } from './base.entity.js';
import { Chest } from './chest.entity.js';

export const PERSON_LABEL_MAX = 100;

/**
 * Someone whose face appears in a chest's photos: a group of faces the clustering found to be
 * one person (domain/people), named by the family or not. People belong to one chest; the same
 * face in two chests is two people, never linked.
 */
@ObjectType({ simpleResolvers: true, description: "Someone whose face appears in the chest's photos. People outside the family see only those the family named and did not hide." })
@Entity({ tableName: 'person' })
@Index({ name: 'person_chest_idx', properties: ['chest', 'createdAt', 'id'] })
export class Person extends BaseEntity {
  @ManyToOne({ entity: () => Chest, deleteRule: 'cascade' })
  chest!: Chest;

  @Field(() => String, { nullable: true, description: 'The name owners or editors gave (namePerson); null for a group of faces nobody has named yet.' })
  @Property({ type: 'varchar', length: PERSON_LABEL_MAX, nullable: true })
  name: string | null = null;

  /**
   * Consent: a person who asked not to be shown (hidePerson). Never shown to people outside the
   * family, never named in stories, and their faces blurred in what those people receive.
   */
  @Field(() => Boolean, { description: 'Hidden (hidePerson): never shown outside the family, never named in stories, their face blurred in the pictures others receive.' })
  @Property({ type: 'boolean', default: false })
  hidden: Opt<boolean> = false;

  /** The face shown as this person's picture (Person.cover); a plain id, as faces point back here. */
  @Property({ type: 'uuid', nullable: true })
  coverFaceId: string | null = null;
}
