import { z } from 'zod';
import { DESCRIPTION_MAX, PERSON_NAME_MAX } from '../../db/entities/chest.entity.js';
import { pastDate, text } from '../validation.js';

const personName = text(PERSON_NAME_MAX).refine((s) => s.length > 0, { message: 'must not be empty' });
const description = text(DESCRIPTION_MAX, { multiline: true });

/** Input of createChest. */
export const createChestInput = z
  .object({
    /** The person the chest remembers; 1..200 characters. */
    personName,
    /** Free text about them; up to 2000 characters. */
    description: description.nullish(),
    /** YYYY-MM-DD, not in the future. */
    birthDate: pastDate.nullish(),
    /** YYYY-MM-DD, not before birthDate, not in the future. */
    passingDate: pastDate.nullish(),
    /** Readable by anyone when true. Defaults to private. */
    isPublic: z.boolean().nullish(),
    /** Whether guests may contribute through a link. Defaults to off. */
    allowContributions: z.boolean().nullish(),
  })
  .strict();
export type CreateChestInput = z.input<typeof createChestInput>;

/** Input of updateChest: omitted fields stay as they are; null clears a nullable field. */
export const updateChestInput = z
  .object({
    personName: personName.optional(),
    description: description.nullable().optional(),
    birthDate: pastDate.nullable().optional(),
    passingDate: pastDate.nullable().optional(),
    isPublic: z.boolean().optional(),
    allowContributions: z.boolean().optional(),
    /** An asset of this chest to show as its hero image; null removes it. */
    heroImageId: z.string().nullable().optional(),
  })
  .strict();
export type UpdateChestInput = z.input<typeof updateChestInput>;
