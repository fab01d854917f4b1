import { Gauge } from 'prom-client';
import type { SweepReport } from '../domain/upload/sweeper.js';
import type { JobQueue, QueueName } from '../jobs/jobs.port.js';
import { jobDuration, jobFailures, registry, sweepItems, sweepRuns } from './registry.js';

/** Every queue, dead-letter queues included: the label set is fixed by the code, not by data. */
const QUEUES: readonly QueueName[] = ['asset.process', 'asset.process.failed', 'asset.analyse', 'asset.analyse.failed', 'faces.redact', 'story.generate', 'story.generate.failed', 'chest.export', 'chest.export.failed', 'chest.import', 'chest.import.failed'];

/** A scrape waits at most this long for the queue's counts: a hung database must not hang /metrics. */
export const QUEUE_DEPTH_TIMEOUT_MS = 2_000;

/** The queues this process exposes (one in a real process; a Set so the embedded mode's API and worker add the same one once). */
const sources = new Set<JobQueue>();

const queueJobs = new Gauge({
  name: 'memory_chest_job_queue_jobs',
  help: 'Jobs in the queue by queue and state (created and retry are waiting, active are running), counted at scrape time.',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    const counted = await scrapeCounts();
    for (const [queue, counts] of counted ?? []) for (const [state, n] of Object.entries(counts)) this.inc({ queue, state }, n);
  },
});

const queueUp = new Gauge({
  name: 'memory_chest_job_queue_up',
  help: '1 when the queue answered this scrape in time, 0 when it did not (then memory_chest_job_queue_jobs is empty).',
  registers: [registry],
  async collect() {
    this.set((await scrapeCounts()) ? 1 : 0);
  },
});

/** prom-client collects metrics side by side: both gauges of one scrape share one round of counts. */
let inFlight: ReturnType<typeof countsWithin> | null = null;
function scrapeCounts(): ReturnType<typeof countsWithin> {
  inFlight ??= countsWithin(QUEUE_DEPTH_TIMEOUT_MS).finally(() => (inFlight = null));
  return inFlight;
}

async function countsWithin(timeoutMs: number): Promise<[QueueName, Record<string, number>][] | null> {
  if (sources.size === 0) return [];
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const counting = Promise.all([...sources].flatMap((q) => QUEUES.map(async (name) => [name, await q.counts(name)] as [QueueName, Record<string, number>])));
  try {
    return await Promise.race([counting.catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}

export interface QueueDepthInput {
  queue: JobQueue;
}

/** Counts this queue's jobs on every scrape from now on; the returned function stops that (on close). */
export function exposeQueueDepth({ queue }: QueueDepthInput): () => void {
  sources.add(queue);
  return () => void sources.delete(queue);
}

/**
 * The same queue, with every handler given to `work` timed and its failures counted. Only the
 * worker's side changes: enqueueing and the rest pass through.
 */
export function measuredJobs(queue: Pick<JobQueue, 'work'>): Pick<JobQueue, 'work'> {
  return {
    work: (name, options, handler) =>
      queue.work(name, options, async (job) => {
        const end = jobDuration.startTimer({ queue: name });
        try {
          await handler(job);
          end({ outcome: 'success' });
        } catch (err) {
          end({ outcome: 'failure' });
          jobFailures.inc({ queue: name });
          throw err;
        }
      }),
  };
}

export interface SweepResultInput {
  /** The sweep's report; absent when the sweep failed. */
  report?: SweepReport;
}

/** One sweep's outcome: counts only (the report's keys and ids are for the log). */
export function recordSweep({ report }: SweepResultInput): void {
  sweepRuns.inc({ outcome: report ? 'success' : 'failure' });
  if (!report) return;
  const found: Record<string, number> = {
    staging: report.stagingRemoved.length,
    orphans: report.orphansRemoved.length,
    derivatives: report.derivativesRemoved.length,
    expired: report.expiredUploads.length,
    events_pruned: report.eventsPruned,
    rate_limits_pruned: report.rateLimitsPruned,
    temp_files: report.tempFilesRemoved,
    missing: report.missingObjects.length,
  };
  for (const [kind, n] of Object.entries(found)) sweepItems.inc({ kind }, n);
}
