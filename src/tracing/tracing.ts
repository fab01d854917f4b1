import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT and OTEL_SERVICE_NAME (config.ts). */
export interface TracingSettings {
  /** Where spans are POSTed (OTLP/HTTP, JSON); null: no tracing at all. */
  tracesUrl: string | null;
  /** OTEL_SERVICE_NAME; null: the process's own name (memory-chest-api, memory-chest-worker). */
  serviceName: string | null;
}

export interface StartTracingInput {
  settings: TracingSettings;
  /** The service name when OTEL_SERVICE_NAME is unset. */
  defaultServiceName: string;
}

export interface RunningTracing {
  /** Sends what is buffered, then stops (on shutdown). */
  shutdown(): Promise<void>;
}

let provider: NodeTracerProvider | null = null;

/**
 * Registers a tracer provider that exports to the configured endpoint. Without an endpoint nothing
 * is created: no provider, no exporter, and the HTTP/GraphQL/job hooks are not installed
 * (tracingOn() is false), so tracing off costs nothing. Once per process: the embedded mode's API
 * and worker share it.
 */
export function startTracing({ settings, defaultServiceName }: StartTracingInput): RunningTracing | null {
  if (settings.tracesUrl === null) return null;
  if (provider) return { shutdown: async () => undefined };
  const started = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: settings.serviceName ?? defaultServiceName }),
    // Batched: a request never waits for the collector; OTEL_BSP_* tune it.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.tracesUrl }))],
  });
  // Also installs the AsyncLocalStorage context manager and the W3C traceparent propagator.
  started.register();
  provider = started;
  return {
    async shutdown() {
      if (provider !== started) return;
      provider = null;
      await started.shutdown();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/** True once startTracing registered a provider: the hooks that make spans install only then. */
export function tracingOn(): boolean {
  return provider !== null;
}

export const tracer = (): Tracer => trace.getTracer('memory-chest');
