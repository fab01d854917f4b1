import { z } from 'zod';
import { PERSON_LABEL_MAX } from '../../db/entities/person.entity.js';
import { text } from '../validation.js';

const id = (field: string) => z.string({ error: `${field} must be an id` });

/** Input of namePerson. */
export const namePersonInput = z
  .object({
    /** The person (a group of faces) to name. */
    personId: id('personId'),
    /** What the family calls them, up to 100 characters, one line; null or an empty text clears the name. */
    name: text(PERSON_LABEL_MAX).nullable(),
  })
  .strict();
export type NamePersonInput = z.input<typeof namePersonInput>;

/** Input of mergePeople. */
export const mergePeopleInput = z
  .object({
    /** The person whose faces move; they are gone afterwards. */
    personId: id('personId'),
    /** The person who keeps them all, with their name (or the other's, if they had none). */
    intoPersonId: id('intoPersonId'),
  })
  .strict();
export type MergePeopleInput = z.input<typeof mergePeopleInput>;

/** Input of moveFace. */
export const moveFaceInput = z
  .object({
    faceId: id('faceId'),
    /** The person it is; null: nobody (not a face, or someone the family does not want grouped). */
    personId: id('personId').nullable(),
  })
  .strict();
export type MoveFaceInput = z.input<typeof moveFaceInput>;

/** Input of hidePerson and unhidePerson. */
export const hidePersonInput = z
  .object({
    personId: id('personId'),
    /** True: hidden from everyone outside the family, never named in stories, their face blurred in what others receive. */
    hidden: z.boolean(),
  })
  .strict();
export type HidePersonInput = z.input<typeof hidePersonInput>;
