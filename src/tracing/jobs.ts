import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { JobQueue } from '../jobs/jobs.port.js';
import { tracer } from './tracing.js';

/** Job data may carry the enqueuing request's W3C trace context under these keys (nothing else). */
interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/**
 * The queue with the active trace context written into each job's data (`traceparent`), so the
 * job's span is a child of the request that enqueued it: an upload's processing sits in the
 * upload's trace. Only installed with tracing on; the handlers ignore the extra key.
 */
export function tracedQueue(queue: JobQueue): JobQueue {
  return {
    get backend() {
      return queue.backend;
    },
    enqueue(tx, name, data, options) {
      const carrier: TraceCarrier = {};
      propagation.inject(context.active(), carrier);
      return queue.enqueue(tx, name, carrier.traceparent ? { ...data, ...carrier } : data, options);
    },
    work: (name, options, handler) => queue.work(name, options, handler),
    unfinishedFor: (name, ids, tx) => queue.unfinishedFor(name, ids, tx),
    counts: (name) => queue.counts(name),
    stop: (options) => queue.stop(options),
  };
}

/**
 * Every handler runs inside a consumer span `job <queue>` (attributes: queue, attempt, outcome),
 * continued from the job's traceparent when it has one. What the handler enqueues (the AI step
 * after the media step) is then a grandchild of the upload's request. No job data in attributes.
 */
export function tracedJobs(queue: Pick<JobQueue, 'work'>): Pick<JobQueue, 'work'> {
  return {
    work: (name, options, handler) =>
      queue.work(name, options, async (job) => {
        const carrier = job.data as TraceCarrier;
        const parent = typeof carrier.traceparent === 'string' ? propagation.extract(context.active(), { traceparent: carrier.traceparent, tracestate: carrier.tracestate }) : context.active();
        const span = tracer().startSpan(
          `job ${name}`,
          { kind: SpanKind.CONSUMER, attributes: { 'messaging.system': 'pg-boss', 'messaging.operation.type': 'process', 'messaging.destination.name': name, 'memory_chest.job.attempt': job.attempt } },
          parent,
        );
        try {
          await context.with(trace.setSpan(parent, span), () => handler(job));
          span.setAttribute('memory_chest.outcome', 'success');
        } catch (err) {
          span.setAttribute('memory_chest.outcome', 'failure');
          // The error's class only: messages can name files or people.
          span.setAttribute('error.type', err instanceof Error ? err.name : 'unknown');
          span.setStatus({ code: SpanStatusCode.ERROR });
          throw err;
        } finally {
          span.end();
        }
      }),
  };
}
