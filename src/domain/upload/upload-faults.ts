/**
 * The moments of an upload where storage already holds something the database does not record
 * yet. A crash, a cut connection or a database error at any of them must leave a state the next
 * request reconciles (see receiveBytes, reconcileUpload and the sweeper). Tests and the crash
 * drill (RELIABILITY.md) inject faults exactly here, through one seam, instead of patching internals.
 */
export const UPLOAD_STEPS = ['mid-part', 'part-stored', 'original-stored', 'asset-committed'] as const;
export type UploadStep = (typeof UPLOAD_STEPS)[number];
/**
 * mid-part         half of a staging part has gone into storage, the put has not finished
 * part-stored      a staging part is in storage, the row does not count it yet
 * original-stored  the original is written from the parts, the asset row is not
 * asset-committed  the asset row and COMPLETE are committed, the client has not been answered
 */

/** Called at each step; may throw (a database error there) or never return (a crash there). */
export type UploadFaults = (step: UploadStep) => void | Promise<void>;

export const noFaults: UploadFaults = () => undefined;

/** Which step kills the process, and how many times that step passes first. Test-only. */
export interface KillPoint {
  step: UploadStep;
  skip: number;
}

/** Parses UPLOAD_DRILL_KILL_AT, "<step>" or "<step>:<passes before the kill>". */
export function parseKillPoint(value: string): KillPoint | null {
  const m = /^([a-z-]+)(?::(\d+))?$/.exec(value.trim());
  if (!m || !(UPLOAD_STEPS as readonly string[]).includes(m[1]!)) return null;
  return { step: m[1] as UploadStep, skip: Number(m[2] ?? 0) };
}

/**
 * SIGKILL of this very process at a step: no cleanup, no flush, no answer, like a power cut or
 * the OOM killer. Only the crash drill sets it (UPLOAD_DRILL_KILL_AT); never in production.
 */
export function killProcessAt(point: KillPoint): UploadFaults {
  let passes = 0;
  return (step) => {
    if (step !== point.step) return;
    if (passes++ < point.skip) return;
    process.kill(process.pid, 'SIGKILL');
    // SIGKILL is not delivered synchronously; do nothing more meanwhile.
    return new Promise<void>(() => undefined);
  };
}
