import { z } from 'zod';
import { UploadPurpose } from '../../db/enums.js';

/** Input of createUpload: what the client promises to send. */
export const createUploadInput = z
  .object({
    /** The chest, for members adding memories. */
    chestId: z.string().nullish(),
    /** A guest's contribution token, for guests attaching memories to their contribution. */
    guestToken: z.string().nullish(),
    /** MEMORY (the default) or ARCHIVE: a chest archive for importChest, with neither chestId nor guestToken. */
    purpose: z.enum(UploadPurpose).default(UploadPurpose.MEMORY),
    /** The original file name; kept as sanitised metadata only. */
    filename: z.string().min(1, 'must not be empty').max(1024),
    /** Exact size in bytes. */
    size: z.number().int('must be a whole number of bytes').positive('must be at least 1 byte'),
    /** The type the client believes the file has; checked against the bytes. */
    mimeType: z.string().max(127).default('application/octet-stream'),
    /** Optional SHA-256 (hex) of the whole file; the upload fails if the bytes differ. */
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters')
      .transform((s) => s.toLowerCase())
      .nullish(),
  })
  .strict()
  .refine((v) => (v.purpose === UploadPurpose.ARCHIVE ? !v.chestId && !v.guestToken : Boolean(v.chestId) !== Boolean(v.guestToken)), {
    message: 'give exactly one of chestId or guestToken (neither for an archive)',
    path: ['chestId'],
  });
export type CreateUploadInput = z.input<typeof createUploadInput>;
