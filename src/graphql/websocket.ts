import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { type ExecutionArgs, type ExecutionResult, GraphQLError, type GraphQLSchema } from 'graphql';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import { authenticate } from '../domain/account/account.service.js';
import { ServiceUnavailableError } from '../domain/errors.js';
import { asUnavailable } from '../domain/unavailable.js';
import { type ContextDeps, createContext } from './context.js';
import { contextFailure, formatSocketError, socketCloseReason } from './errors.js';
import { GRAPHQL_DEFAULTS, type GraphQLSettings } from './limits/query-limits.js';
import { isPrecheckRefusal, socketOnSubscribe } from './limits/socket.js';
import { socketOperationAccepted, socketOperationInvalid, socketOperationRan, socketOperationStarted } from '../metrics/websocket-operations.js';
import { sharedSubscribe } from './shared-execution.js';
import { refuseIfRateLimited } from './websocket-limits.js';
import { GRAPHQL_WS_SERVER_OPTIONS, serveGraphqlWs } from './websocket-transport.js';
import { clientAddress } from '../http/client-address.js';

/** What a client may send in graphql-ws `connectionParams`. */
interface ConnectionParams {
  /** `Bearer <token>` or the bare token, as in the HTTP Authorization header. */
  authorization?: unknown;
  /** A view link's token, as in the X-Share-Token header. */
  shareToken?: unknown;
}

const authorization = (params: unknown): string | null => {
  const value = (params as ConnectionParams | undefined)?.authorization;
  return typeof value === 'string' && value.length > 0 ? value : null;
};

/**
 * graphql-js answers variables it cannot coerce with errors and no `data` (Apollo reads the same
 * sign as BAD_USER_INPUT over HTTP). Such an error wraps the scalar's own complaint ("not a valid
 * LocalDate"), which is about the input: unwrapped, the error catalogue treats it as a request
 * error instead of as a stream that failed inside (INTERNAL_SERVER_ERROR, logged). Errors with a
 * path come from resolvers and are left as they are.
 */
function requestError(result: ExecutionResult, error: GraphQLError): GraphQLError {
  if ('data' in result || error.path || !error.originalError) return error;
  return new GraphQLError(error.message, { nodes: error.nodes, source: error.source, positions: error.positions, extensions: error.extensions });
}

/**
 * Close code for "the database or storage is unavailable; reconnect later": 1013 Try Again Later
 * (RFC 6455 registry). graphql-ws clients retry it (they give up on 4403 and 4500), and the reason
 * says when: "SERVICE_UNAVAILABLE: try again in N seconds".
 */
export const TRY_AGAIN_CLOSE_CODE = 1013;

const closeTryAgain = (socket: WebSocket, err: ServiceUnavailableError) =>
  socket.close(TRY_AGAIN_CLOSE_CODE, `${err.code}: try again in ${err.retryAfterSeconds} seconds`);

/**
 * graphql-ws on the same HTTP server and path as Apollo. A connection that presents a token is
 * checked in onConnect and refused (close 4403) when the token is bad; every operation then builds
 * its context again, so a session revoked mid-connection stops working at its next operation.
 * A database outage while checking a connection or building an operation's context closes the
 * socket with 1013 (try again), never 4403 (sign in again) or 4500.
 * Every operation passes the same query limits, introspection and suggestion settings as HTTP.
 */
export function attachWebSockets(server: Server, schema: GraphQLSchema, deps: ContextDeps, graphql: GraphQLSettings = GRAPHQL_DEFAULTS) {
  // noServer: we route upgrades ourselves, so the HTTP server's own errors (a taken port) are not
  // re-emitted as websocket errors.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024, ...GRAPHQL_WS_SERVER_OPTIONS });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  const format = formatSocketError(deps.log);
  const onSubscribe = socketOnSubscribe({ schema, settings: graphql, maxPageSize: deps.config.maxPageSize ?? 100 });
  return serveGraphqlWs({
    wss,
    clientAddressOf: (request) => clientAddress(request, deps.config.trustProxyHops),
    closeReasonOf: socketCloseReason,
    onInternalError: (err) => deps.log.error({ err }, 'websocket operation failed'),
    hooks: {
      subscribe: sharedSubscribe,
      // Counted and timed like HTTP's (metrics/websocket-operations.ts); refused documents are counted by the precheck.
      onSubscribe: (payload) => {
        const started = socketOperationStarted();
        const checked = onSubscribe(payload);
        if (!Array.isArray(checked)) socketOperationAccepted({ started, args: checked as ExecutionArgs });
        else if (!isPrecheckRefusal(checked)) socketOperationInvalid({ started, payload, errors: checked });
        return checked;
      },
      onOperation: (args, result) => void socketOperationRan({ args, result: result as never }),
      onConnect: async (ctx) => {
        try {
          if (await refuseIfRateLimited(deps, ctx)) return false;
          const auth = authorization(ctx.connectionParams);
          if (auth === null) return true;
          const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? auth;
          return await authenticate(deps.orm.em.fork(), token).then(
            () => true,
            (err: unknown) => {
              if (asUnavailable(err)) throw err;
              return false;
            },
          );
        } catch (err) {
          const unavailable = asUnavailable(err);
          if (!unavailable) throw err;
          deps.log.warn({ err, backend: unavailable.backend }, 'websocket connection met an outage');
          // Closed first: the protocol's own close (4403 for false) then finds the socket closing.
          closeTryAgain(ctx.extra.socket, unavailable);
          return false;
        }
      },
      // A throw here closes the socket with its message as the reason: keep only catalogue errors.
      context: (ctx) =>
        createContext(deps, {
          requestId: randomUUID(),
          authorization: authorization(ctx.connectionParams),
          shareToken: typeof (ctx.connectionParams as ConnectionParams | undefined)?.shareToken === 'string' ? ((ctx.connectionParams as ConnectionParams).shareToken as string) : null,
          clientAddress: ctx.extra.clientAddress,
        }).catch((err: unknown) => {
          const failure = contextFailure(deps.log, err);
          if (failure instanceof ServiceUnavailableError) closeTryAgain(ctx.extra.socket, failure);
          throw failure;
        }),
      // Results: resolver errors, and variables execution could not coerce.
      onNext: (result) =>
        result.errors ? { ...result, errors: result.errors.map((e) => format(requestError(result, e), 'BAD_USER_INPUT')) as never } : result,
      // Error messages: validation failures, and a source stream that threw mid-stream.
      onError: (errors) => errors.map((e) => format(e, 'GRAPHQL_VALIDATION_FAILED')),
    },
  });
}
