import { z } from 'zod';
import { CAPTION_MAX, PLACE_MAX } from '../../db/entities/asset.entity.js';
import { STORABLE_RANGE_MESSAGE, storableInstant, text } from '../validation.js';

export const TAG_MAX = 50;
export const TAGS_MAX = 30;

const tag = text(TAG_MAX)
  .transform((s) => s.replace(/\s+/g, ' '))
  .refine((s) => s.length > 0, { message: 'must not be empty' });

const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4}-\d{2}-\d{2})T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/;
/** A day of slack for time zones ahead of UTC. */
const FUTURE_SLACK_MS = 86_400_000;

const realDay = (day: string): boolean => {
  const ms = Date.parse(`${day}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().startsWith(day);
};

/**
 * A date a person gives: a day (YYYY-MM-DD) or an ISO 8601 date and time. A day, or a time with
 * no zone, is kept as that wall-clock time in UTC, as camera dates are (see media/exif.ts), so the
 * day people remember is the day every reader sees.
 */
const dateTaken = z
  .string()
  .transform((s) => s.trim())
  .transform((s, ctx): Date => {
    const time = DATE_TIME.exec(s);
    const day = DAY.test(s) ? s : time?.[1];
    const ms = day && realDay(day) ? Date.parse(time ? (time[2] ? s : `${s}Z`) : `${s}T00:00:00Z`) : Number.NaN;
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be a date as YYYY-MM-DD, or an ISO 8601 date and time' });
      return z.NEVER;
    }
    // "0001-01-01T00:00+01:00" is a real day, but year 0 in UTC: no column can hold it.
    if (!storableInstant(ms)) {
      ctx.addIssue({ code: 'custom', message: STORABLE_RANGE_MESSAGE });
      return z.NEVER;
    }
    if (ms > Date.now() + FUTURE_SLACK_MS) {
      ctx.addIssue({ code: 'custom', message: 'must not be in the future' });
      return z.NEVER;
    }
    return new Date(ms);
  });

/** Input of updateMemory: omitted fields stay as they are; null (or an empty text) clears. */
export const updateMemoryInput = z
  .object({
    /** What the memory shows or means, in a person's words; up to 2000 characters, lines allowed. */
    caption: text(CAPTION_MAX, { multiline: true }).nullable().optional(),
    /** Where it was made, in words ("Whitby", "Grandma's garden"); up to 200 characters, one line. */
    place: text(PLACE_MAX).nullable().optional(),
    /** When it was made: YYYY-MM-DD or an ISO 8601 date and time, not in the future. */
    dateTaken: dateTaken.nullable().optional(),
    /** The person's own tags (source USER), replacing their earlier ones; up to 30 of up to 50 characters. */
    tags: z.array(tag).max(TAGS_MAX, { message: `must have at most ${TAGS_MAX} tags` }).nullable().optional(),
  })
  .strict();
export type UpdateMemoryInput = z.input<typeof updateMemoryInput>;
