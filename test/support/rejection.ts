import { AppError } from '../../src/domain/errors.js';

/** Resolves to the AppError a call rejects with, for asserting code and field. */
export async function rejection(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof AppError)) throw new Error(`expected an AppError, got ${String(err)}`);
  return err;
}
