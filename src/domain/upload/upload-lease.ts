import { randomUUID } from 'node:crypto';
import type { EntityManager } from '@mikro-orm/postgresql';
import type { Upload } from '../../db/entities/index.js';
import { UploadStatus } from '../../db/enums.js';
import { AppError, conflict, ErrorCode } from '../errors.js';

/**
 * A request that may not go on with the upload as it is: another one holds the ticket, or the
 * client's offset is not the server's. `offset` is what the server holds now (the answer's
 * Upload-Offset); `retryAfterSeconds`, when another request holds the ticket, is when its lease
 * ends at the latest.
 */
export class UploadConflictError extends AppError {
  constructor(
    message: string,
    readonly offset: number,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(ErrorCode.CONFLICT, message, 'offset');
    this.name = 'UploadConflictError';
  }
}

/** A client's Upload-Offset that is not where the server is: the answer says where it is. */
export const wrongOffset = (held: number) => new UploadConflictError(`offset: the server holds ${held} bytes; resume from there`, held);

/** The right to send bytes for one upload, held by one request at a time. */
export interface UploadLease {
  readonly token: string;
  /** Bytes arrived, or the server is still working on them: renew at the next tick. */
  touch(): void;
  /** Renew at every tick whatever happens (while the parts are assembled into the original). */
  keepAlive(): void;
  /** Gives the ticket back at once, so a resume need not wait for the lease to lapse. */
  release(): Promise<void>;
}

/**
 * How long a lock on the upload row may be waited for. A transaction left open on a connection
 * the server has not noticed is gone can hold the row for hours; a request waits this long, then
 * answers 409 with the offset instead of hanging.
 */
const LOCK_WAIT = '2s';

/**
 * Claims the ticket for one request: an atomic conditional update, so of two PATCHes at once
 * exactly one wins and the other is told the current offset at once. The lease lapses after
 * `leaseMs` unless renewed: a holder that crashed, or a client that stopped sending, frees the
 * ticket within one lease. Refreshes upload's offset, parts and staging run from the row, which is the truth.
 */
export async function claimUpload(
  em: EntityManager,
  upload: Upload,
  { leaseMs, onLost }: { leaseMs: number; /** The lease went to another request (this one stalled past it). */ onLost: () => void },
): Promise<UploadLease> {
  const token = randomUUID();
  const claimed = await withLockWait(em, (tx) =>
    // A lapsed lease (a token that was never given back) may still have a writer appending to the
    // staging run: the next part starts a run of its own (staging_run null).
    tx.execute<{ received_bytes: string | number; parts: number; staging_run: string | null }[]>(
      `update upload set lease_token = ?, lease_until = now() + ? * interval '1 millisecond',
          staging_run = case when lease_token is null then staging_run end
        where id = ? and status = ? and (lease_until is null or lease_until <= now())
        returning received_bytes, parts, staging_run`,
      [token, leaseMs, upload.id, UploadStatus.OPEN],
    ),
  ).catch((err: unknown) => {
    if (isLockTimeout(err)) return null;
    throw err;
  });
  if (!claimed?.[0]) throw await busy(em, upload);
  upload.receivedBytes = Number(claimed[0].received_bytes);
  upload.parts = claimed[0].parts;
  upload.stagingRun = claimed[0].staging_run;

  let touched = false;
  let always = false;
  let released = false;
  const timer = setInterval(() => {
    if (!touched && !always) return; // a silent client: let the lease lapse
    touched = false;
    em.fork()
      .execute<unknown[]>(`update upload set lease_until = now() + ? * interval '1 millisecond' where id = ? and lease_token = ? returning id`, [leaseMs, upload.id, token])
      .then((rows) => {
        if (rows.length === 0 && !released) onLost();
      })
      // A database that cannot renew cannot record parts either: the next commit reports it.
      .catch(() => undefined);
  }, Math.max(50, Math.floor(leaseMs / 3)));
  timer.unref();
  return {
    token,
    touch: () => void (touched = true),
    keepAlive: () => void (always = true),
    async release() {
      released = true;
      clearInterval(timer);
      await em.fork().execute(`update upload set lease_token = null, lease_until = null where id = ? and lease_token = ?`, [upload.id, token]);
    },
  };
}

/** Why the claim failed, with the offset and wait a client needs. */
async function busy(em: EntityManager, upload: Upload): Promise<AppError> {
  const [row] = await em
    .fork()
    .execute<{ status: UploadStatus; received_bytes: string | number; wait_ms: string | number | null }[]>(
      `select status, received_bytes, extract(epoch from (lease_until - now())) * 1000 as wait_ms from upload where id = ?`,
      [upload.id],
    );
  if (!row) return conflict('Upload is gone');
  upload.receivedBytes = Number(row.received_bytes);
  if (row.status !== UploadStatus.OPEN) return conflict(`Upload is ${row.status.toLowerCase()}`);
  const waitSeconds = Math.max(1, Math.ceil(Number(row.wait_ms ?? 0) / 1000));
  return new UploadConflictError(`Another request is sending bytes for this upload; the server holds ${upload.receivedBytes} bytes`, upload.receivedBytes, waitSeconds);
}

/** Runs fn in a short transaction that waits at most LOCK_WAIT for a row lock. */
async function withLockWait<T>(em: EntityManager, fn: (tx: EntityManager) => Promise<T>): Promise<T> {
  return em.fork().transactional(async (tx) => {
    await tx.execute(`set local lock_timeout = '${LOCK_WAIT}'`);
    return fn(tx);
  });
}

/** Postgres lock_not_available (55P03): lock_timeout ran out. */
function isLockTimeout(err: unknown): boolean {
  for (let e = err as { code?: string; cause?: unknown } | undefined; e; e = e.cause as typeof e) if (e.code === '55P03') return true;
  return false;
}
