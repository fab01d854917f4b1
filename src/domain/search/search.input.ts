import { z } from 'zod';
import { FileType } from '../../db/enums.js';
import { badInput } from '../errors.js';
import { text } from '../validation.js';

export const QUERY_MAX = 200;
const FILTER_LIST_MAX = 20;

const uuid = (field: string) => z.string().uuid({ message: `${field} must be an id` });
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s) && s >= '0001-01-01', {
    message: 'is not a real calendar date',
  });

/** Input of search. */
export const searchInput = z
  .object({
    /** Words as typed into a search box (websearch syntax: "a phrase", or, -word); 1 to 200 characters. */
    query: text(QUERY_MAX).refine((s) => s.length > 0, { message: 'must not be empty' }),
    filter: z
      .object({
        /** Only memories of these kinds. */
        types: z.array(z.enum(FileType)).max(4).nullish(),
        /** Only memories taken on or after this day (YYYY-MM-DD, UTC). */
        dateFrom: day.nullish(),
        /** Only memories taken on or before this day. */
        dateTo: day.nullish(),
        /** Only memories carrying every one of these tags (any case). */
        tags: z.array(text(100)).max(FILTER_LIST_MAX).nullish(),
        /** Only memories showing every one of these people. */
        people: z.array(uuid('people')).max(FILTER_LIST_MAX).nullish(),
        /** Only what this contribution brought: its memories and its message. */
        contributor: uuid('contributor').nullish(),
      })
      .strict()
      // A range that ends before it starts is a mistake to point out, not a search for nothing.
      .refine((f) => !f.dateFrom || !f.dateTo || f.dateFrom <= f.dateTo, { message: 'must not be before dateFrom', path: ['dateTo'] })
      .nullish(),
  })
  .strict();
export type SearchInput = z.input<typeof searchInput>;
export type SearchFilter = NonNullable<z.infer<typeof searchInput>['filter']>;

/** Cursors of search pages: the rank and the key of the last hit (ties are ordered by key). */
const cursorSchema = z.object({ r: z.number().finite().min(0), k: z.string().regex(/^[0-9a-f-]{36}(:[0-9a-f-]{36})?$/) });
export type SearchCursor = z.infer<typeof cursorSchema>;

export const encodeSearchCursor = (c: SearchCursor): string => Buffer.from(JSON.stringify(c)).toString('base64url');

export function decodeSearchCursor(cursor: string | null | undefined): SearchCursor | undefined {
  if (cursor == null) return undefined;
  try {
    const parsed = cursorSchema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through: not base64 JSON
  }
  throw badInput('after', 'after: malformed cursor');
}
