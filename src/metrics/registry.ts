import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/**
 * The process's one Prometheus registry. A module is loaded once per process, so in the embedded
 * mode (API and worker in one process) both expose the same registry and nothing is registered
 * twice. Labels are bounded and never carry what a person typed or an id: routes are templates,
 * operation names are capped (graphql-plugin.ts), the rest are fixed vocabularies.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const PREFIX = 'memory_chest_';
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Jobs run from milliseconds (a redaction) to many minutes (a story, a long video). */
const JOB_BUCKETS = [0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];

export const httpRequests = new Counter({
  name: `${PREFIX}http_requests_total`,
  help: 'HTTP requests answered, by method, route template and status.',
  labelNames: ['method', 'route', 'status'] as const,
  registers: [registry],
});
export const httpDuration = new Histogram({
  name: `${PREFIX}http_request_duration_seconds`,
  help: 'Time to answer an HTTP request, by method and route template.',
  labelNames: ['method', 'route'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});
export const graphqlOperations = new Counter({
  name: `${PREFIX}graphql_operations_total`,
  help: 'GraphQL operations, by transport (http, websocket), operation name (capped), type and outcome (success, error, invalid).',
  labelNames: ['transport', 'operation', 'type', 'outcome'] as const,
  registers: [registry],
});
export const graphqlDuration = new Histogram({
  name: `${PREFIX}graphql_operation_duration_seconds`,
  help: 'Time from receiving a GraphQL operation to its answer (a subscription: until it is running), by transport, operation name (capped), type and outcome.',
  labelNames: ['transport', 'operation', 'type', 'outcome'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});
export const graphqlRejected = new Counter({
  name: `${PREFIX}graphql_rejected_documents_total`,
  help: 'Documents refused before validation (query limits, syntax, batches), by transport, code and limit.',
  labelNames: ['transport', 'code', 'limit'] as const,
  registers: [registry],
});
export const subscriptionsOpen = new Gauge({
  name: `${PREFIX}graphql_subscriptions_open`,
  help: 'Subscriptions running on this process.',
  registers: [registry],
});
export const subscriptionEvents = new Counter({
  name: `${PREFIX}graphql_subscription_events_total`,
  help: 'Events delivered to subscriptions on this process.',
  registers: [registry],
});
export const uploadBytes = new Counter({
  name: `${PREFIX}upload_bytes_total`,
  help: 'Upload bytes received and stored.',
  registers: [registry],
});
export const jobDuration = new Histogram({
  name: `${PREFIX}job_duration_seconds`,
  help: 'Time a job attempt took on this process, by queue and outcome (success, failure).',
  labelNames: ['queue', 'outcome'] as const,
  buckets: JOB_BUCKETS,
  registers: [registry],
});
export const jobFailures = new Counter({
  name: `${PREFIX}job_failures_total`,
  help: 'Job attempts that failed on this process (each is retried until its queue gives up), by queue.',
  labelNames: ['queue'] as const,
  registers: [registry],
});
export const sweepRuns = new Counter({
  name: `${PREFIX}sweep_runs_total`,
  help: 'Storage consistency sweeps, by outcome (success, failure).',
  labelNames: ['outcome'] as const,
  registers: [registry],
});
export const sweepItems = new Counter({
  name: `${PREFIX}sweep_items_total`,
  help: 'What sweeps found and did, by kind (staging, orphans, derivatives and expired uploads removed; events and rate limits pruned; missing objects found).',
  labelNames: ['kind'] as const,
  registers: [registry],
});
