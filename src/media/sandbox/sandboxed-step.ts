import type { PipelineContext } from '../pipeline.types.js';
import { DEFAULT_PARSE_LIMITS } from './limits.js';
import { runInSandbox, type SandboxLimits } from './sandbox.js';

export interface SandboxedStep {
  /** The worker's entry module (workerEntry). */
  entry: URL;
  /** Its workerData. */
  data: unknown;
  /** The stage its progress messages are reported as. */
  stage: string;
  ctx: PipelineContext;
}

/**
 * One step of a pipeline run in the sandbox with the job's limits and signal. Progress reports
 * are kept in order; one that fails (the attempt lost its claim) stops the worker. Rejects with
 * the signal's reason when the job stops, otherwise with the sandbox's own error, which the
 * pipeline turns into a message for people (see sandboxFailure in each pipeline).
 */
export async function runSandboxedStep<R>(step: SandboxedStep): Promise<R> {
  const { ctx } = step;
  const limits: SandboxLimits = (ctx.limits ?? DEFAULT_PARSE_LIMITS).sandbox;
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  let reports = Promise.resolve();
  const onProgress = (percent: number) => {
    reports = reports.then(() => (signal.aborted ? undefined : ctx.report(step.stage, percent))).catch((err: unknown) => stop.abort(err));
  };
  try {
    const value = await runInSandbox<R>({ entry: step.entry, data: step.data, limits, signal, onProgress });
    await reports;
    signal.throwIfAborted();
    return value;
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  }
}
