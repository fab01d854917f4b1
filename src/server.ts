import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginDrainHttpServer } from '@apollo/server/plugin/drainHttpServer';
import { ApolloServerPluginCacheControlDisabled, ApolloServerPluginLandingPageDisabled, ApolloServerPluginSchemaReportingDisabled, ApolloServerPluginUsageReportingDisabled } from '@apollo/server/plugin/disabled';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import { type Context, type ContextDeps, createContext, limiterFor } from './graphql/context.js';
import { SESSION_CACHE_DEFAULTS, sessionCacheOn } from './domain/account/session-cache.js';
import { attachWebSockets } from './graphql/websocket.js';
import { formatError } from './graphql/errors.js';
import { graphiqlRouter } from './graphql/graphiql.js';
import { queryLimitsMiddleware } from './graphql/limits/http.js';
import { countValidations } from './graphql/limits/stats.js';
import { rateLimitPlugin } from './graphql/rate-limited.js';
import { unavailableGraphQLError, unavailablePlugin } from './graphql/unavailable.js';
import { compiledReadsPlugin } from './graphql/compiled/compiled-reads.plugin.js';
import { createSchema } from './graphql/schema.js';
import { readiness } from './health/readiness.js';
import { apolloMiddleware } from './http/apollo-middleware.js';
import { cors } from './http/cors.js';
import { filesRouter } from './http/files.routes.js';
import { exportsRouter } from './http/exports.routes.js';
import { uploadsRouter } from './http/uploads.routes.js';
import { sendIfUnavailable } from './http/errors.js';
import { asUnavailable } from './domain/unavailable.js';
import { graphqlMetricsPlugin } from './metrics/graphql-plugin.js';
import { httpMetrics, metricsRoute, routeLabel } from './metrics/http.js';
import { exposeQueueDepth } from './metrics/jobs.js';
import type { Services } from './services.js';
import { httpTracing } from './tracing/http.js';
import { tracingOn } from './tracing/tracing.js';
import type { Logger } from './logger.js';
import type { StorageBackend } from './storage/storage.port.js';

export interface HttpApp {
  server: Server;
  storage: StorageBackend;
  services: Services;
  apollo: ApolloServer<Context>;
  /** Base URL once listening, e.g. http://127.0.0.1:4000 */
  url(): string;
  /** Stops accepting, lets in-flight requests finish (up to the timeout), then closes. */
  close(): Promise<void>;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Builds the HTTP server: GraphQL (Apollo), the offline explorer, health and readiness. */
export async function createHttpApp(config: Config, db: Database, log: Logger, services: Services): Promise<HttpApp> {
  const app = express();
  app.disable('x-powered-by');
  // No ETag on answers: a GraphQL POST answer is not revalidated, and hashing every answer (a
  // nested page is tens of KiB) only costs CPU; downloads set their own validators.
  app.set('etag', false);
  // req.ip is the socket address unless proxies are declared: X-Forwarded-For is easy to forge.
  app.set('trust proxy', config.trustProxyHops);
  const server = createServer(app);
  const schema = await createSchema();
  const { storage, events } = services;
  // Live sessions believed for a few seconds; revocations reach every process over the event bus.
  const stopSessions = new AbortController();
  const sessions = sessionCacheOn(events, stopSessions.signal, { ...SESSION_CACHE_DEFAULTS, ttlMs: config.sessionCacheMs });
  const deps: ContextDeps = { orm: db.orm, log, config, storage, events, queue: services.queue, sessions };
  const ws = attachWebSockets(server, schema, deps, config.graphql);
  const apollo = new ApolloServer<Context>({
    schema,
    formatError: formatError(log),
    includeStacktraceInErrorResponses: false,
    introspection: config.graphql.introspection,
    // Drops "Did you mean …" from validation errors (websockets do the same in limits/socket.ts).
    hideSchemaDetailsFromClientErrors: !config.graphql.suggestions,
    // Shutdown is ours: main.ts closes HTTP, then the database, in order.
    stopOnTerminationSignals: false,
    plugins: [
      ApolloServerPluginDrainHttpServer({ httpServer: server }),
      ApolloServerPluginLandingPageDisabled(),
      // Apollo's cache-control plugin wraps every field resolver to collect hints this API never
      // gives (answers are per viewer, never cached by anyone): with it off a nested read took 0.72× the CPU (issue 14).
      ApolloServerPluginCacheControlDisabled(),
      // Nothing about operations leaves the server, even if an APOLLO_KEY is in the environment.
      ApolloServerPluginUsageReportingDisabled(),
      ApolloServerPluginSchemaReportingDisabled(),
      countValidations(),
      graphqlMetricsPlugin(),
      rateLimitPlugin,
      unavailablePlugin,
      // Last: every other plugin has seen the operation before a compiled read answers it.
      compiledReadsPlugin(),
      {
        async serverWillStart() {
          return {
            async drainServer() {
              await ws.dispose();
            },
          };
        },
      },
    ],
  });
  await apollo.start();
  const unexposeQueue = exposeQueueDepth({ queue: services.queue });

  // Tracing on (an OTLP endpoint set, main.ts): a server span per request, first so it holds the rest.
  if (tracingOn()) app.use(httpTracing());
  app.use((req: Request, res: Response, next: NextFunction) => {
    const given = req.get('x-request-id');
    const id = given && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.set('X-Request-Id', id);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.info({ requestId: id, method: req.method, path: req.originalUrl.split('?')[0], status: res.statusCode, ms: Math.round(ms) }, 'request');
    });
    next();
  });
  app.use(httpMetrics());
  app.use(cors({ origins: config.corsOrigins }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    const r = await readiness(db, storage);
    res.status(r.ok ? 200 : 503).json({ status: r.ok ? 'ready' : 'unavailable', database: r.database, storage: r.storage });
  });
  // The explorer (a GET asking for HTML), then GraphQL itself before the other routes, so a
  // GraphQL request is not matched against every upload, file and export route first.
  app.use(graphiqlRouter());
  app.use(
    '/graphql',
    routeLabel('/graphql'),
    // Answers are for one viewer: no cache keeps them (Apollo's cache-control plugin, which set
    // this, is off).
    (_req: Request, res: Response, next: NextFunction) => {
      res.set('Cache-Control', 'no-store');
      next();
    },
    express.json({ limit: '1mb' }),
    // Before Apollo: a document over the limits costs no context (no session lookup) and no validation.
    queryLimitsMiddleware({ schema, limits: config.graphql.limits, maxPageSize: config.maxPageSize }),
    apolloMiddleware(apollo, {
      context: async ({ req, res }) =>
        createContext(deps, {
          requestId: res.locals.requestId as string,
          authorization: req.get('authorization'),
          shareToken: req.get('x-share-token'),
          clientAddress: req.ip,
        }).catch((err: unknown) => {
          // A database outage during the session lookup: 503 with Retry-After, not Apollo's 500.
          const unavailable = asUnavailable(err);
          throw unavailable ? unavailableGraphQLError(unavailable) : err;
        }),
    }),
  );
  app.use(metricsRoute({ settings: config.metrics }));
  app.use(uploadsRouter(db.orm, storage, services, config.uploads, log, limiterFor(deps)));
  app.use(filesRouter(db.orm, storage, config.secretKey, log));
  app.use(exportsRouter(db.orm, storage, config.secretKey, log));
  // No such route (or not with this method): the catalogue's NOT_FOUND, not Express's HTML page.
  app.use((_req: Request, res: Response) => {
    res.status(404).json({ errors: [{ message: 'Not found', extensions: { code: 'NOT_FOUND' } }] });
  });
  // Malformed JSON bodies and other request errors: a short coded answer, never a stack.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (sendIfUnavailable(res, err, log)) return;
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 500;
    if (status === 500) log.error({ err }, 'unhandled HTTP error');
    const code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST';
    res.status(status).json({ errors: [{ message: status === 500 ? 'Internal server error' : err.message, extensions: { code } }] });
  });

  return {
    server,
    storage,
    services,
    apollo,
    url() {
      const addr = server.address() as AddressInfo;
      return `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
    },
    async close() {
      const timer = setTimeout(() => server.closeAllConnections(), config.shutdownTimeoutMs);
      timer.unref();
      await apollo.stop();
      clearTimeout(timer);
      stopSessions.abort();
      unexposeQueue();
    },
  };
}

export function listen(app: HttpApp, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    app.server.once('error', reject);
    app.server.listen(port, host, () => {
      app.server.off('error', reject);
      resolve();
    });
  });
}
