import { z } from 'zod';
import { text } from '../validation.js';

/** Input of signUp. */
export const signUpInput = z
  .object({
    /** Sign-in name; stored lower-cased. */
    email: z.string().trim().toLowerCase().pipe(z.email('must be an email address').max(254)),
    /** 10 to 200 characters. */
    password: z.string().min(10, 'must be at least 10 characters').max(200, 'must be at most 200 characters'),
    /** How other members see this person. */
    displayName: text(100).refine((s) => s.length > 0, { message: 'must not be empty' }),
  })
  .strict();
export type SignUpInput = z.input<typeof signUpInput>;

export const signInInput = z.object({ email: z.string().trim().toLowerCase(), password: z.string() }).strict();
export type SignInInput = z.input<typeof signInInput>;
