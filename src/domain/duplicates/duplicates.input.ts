import { z } from 'zod';

/** Most copies one resolveDuplicates merges, and most memories one dismissDuplicates takes. */
export const MAX_DUPLICATES = 50;

const ids = (min: number) =>
  z
    .array(z.string())
    .min(min, { message: `must list at least ${min} ${min === 1 ? 'memory' : 'memories'}` })
    .max(MAX_DUPLICATES, { message: `must list at most ${MAX_DUPLICATES} memories` })
    .refine((list) => new Set(list).size === list.length, { message: 'must not list a memory twice' });

export const resolveDuplicatesInput = z
  .object({
    /** The memory that stays, and receives the others' captions, tags, place, date and contributors. */
    keepAssetId: z.string(),
    /** The copies merged into it and moved to the bin. */
    duplicateAssetIds: ids(1),
  })
  .refine((i) => !i.duplicateAssetIds.includes(i.keepAssetId), { message: 'must not include the memory kept', path: ['duplicateAssetIds'] });
export type ResolveDuplicatesInput = z.input<typeof resolveDuplicatesInput>;

export const dismissDuplicatesInput = z.object({
  /** Memories that are not copies of each other: no pair of them is suggested again. */
  assetIds: ids(2),
});
export type DismissDuplicatesInput = z.input<typeof dismissDuplicatesInput>;
