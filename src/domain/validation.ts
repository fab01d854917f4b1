import { z } from 'zod';
import { badInput } from './errors.js';

/** Parses use-case input with a zod schema; the first problem becomes BAD_USER_INPUT naming its field. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.infer<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const field = issue.path.map(String).join('.') || 'input';
  throw badInput(field, `${field}: ${issue.message}`);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids that are not UUIDs cannot exist; callers treat them as "not found" without asking the database. */
export const isUuid = (id: string): boolean => UUID.test(id);

/** Counts characters the way PostgreSQL's varchar(n) does: code points, after NFC. */
export const codePoints = (s: string): number => [...s].length;

/** Trimmed, NFC-normalised, control-character-free single-line text of bounded length. */
export const text = (max: number, { multiline = false } = {}) =>
  z
    .string()
    // A lone surrogate cannot be stored (PostgreSQL's text and jsonb want real Unicode): refused, not a database error.
    .refine((s) => s.isWellFormed(), { message: 'must be valid Unicode text (it holds a lone surrogate)' })
    .transform((s) => s.normalize('NFC').trim())
    .refine((s) => !(multiline ? /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/ : /[\u0000-\u001f\u007f]/).test(s), {
      message: 'must not contain control characters',
    })
    .refine((s) => codePoints(s) <= max, { message: `must be at most ${max} characters` });

/**
 * The instants every layer can hold: PostgreSQL's date and timestamptz have no year 0 (the driver
 * would send 1 BC, which a date column refuses), JavaScript's Date ends in 275760, and ISO 8601
 * output past 9999 needs a sign that GraphQL date scalars refuse. So a stored date lies in UTC
 * years 0001–9999, which every memory and every link expiry fits.
 */
const MIN_MS = new Date('0001-01-01T00:00:00.000Z').getTime();
const MAX_MS = new Date('9999-12-31T23:59:59.999Z').getTime();

/** Whether a Date (or epoch milliseconds) is a real instant inside the storable range. */
export const storableInstant = (d: Date | number): boolean => {
  const ms = typeof d === 'number' ? d : d.getTime();
  return Number.isFinite(ms) && ms >= MIN_MS && ms <= MAX_MS;
};
export const STORABLE_RANGE_MESSAGE = 'must be between the years 0001 and 9999';

/** A calendar date (YYYY-MM-DD) that exists, from year 0001, and is not in the future. */
export const pastDate = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date as YYYY-MM-DD')
  .refine((s) => !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s), {
    message: 'is not a real calendar date',
  })
  .refine((s) => storableInstant(Date.parse(`${s}T00:00:00Z`)), { message: STORABLE_RANGE_MESSAGE })
  // A day of slack for time zones ahead of UTC.
  .refine((s) => Date.parse(`${s}T00:00:00Z`) <= Date.now() + 86_400_000, { message: 'must not be in the future' });
