import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { GraphQLSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { authenticate } from '../domain/account/account.service.js';
import { type ContextDeps, createContext } from './context.js';
import { contextFailure, formatSocketError } from './errors.js';
import { GRAPHQL_DEFAULTS, type GraphQLSettings } from './limits/query-limits.js';
import { socketOnSubscribe } from './limits/socket.js';
import { sharedSubscribe } from './shared-execution.js';
import { refuseIfRateLimited, socketClientAddress } from './websocket-limits.js';

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
 * graphql-ws on the same HTTP server and path as Apollo. A connection that presents a token is
 * checked in onConnect and refused (close 4403) when the token is bad; every operation then builds
 * its context again, so a session revoked mid-connection stops working at its next operation.
 * Every operation passes the same query limits, introspection and suggestion settings as HTTP.
 */
export function attachWebSockets(server: Server, schema: GraphQLSchema, deps: ContextDeps, graphql: GraphQLSettings = GRAPHQL_DEFAULTS) {
  // noServer: we route upgrades ourselves, so the HTTP server's own errors (a taken port) are not
  // re-emitted as websocket errors.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://localhost').pathname !== '/graphql') {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  const format = formatSocketError(deps.log);
  const onSubscribe = socketOnSubscribe({ schema, settings: graphql, maxPageSize: deps.config.maxPageSize ?? 100 });
  return useServer(
    {
      schema,
      subscribe: sharedSubscribe,
      onSubscribe: (_ctx, _id, payload) => onSubscribe(payload),
      onConnect: async (ctx) => {
        if (await refuseIfRateLimited(deps, ctx)) return false;
        const auth = authorization(ctx.connectionParams);
        if (auth === null) return true;
        const token = /^Bearer\s+(\S+)$/i.exec(auth)?.[1] ?? auth;
        return authenticate(deps.orm.em.fork(), token).then(
          () => true,
          () => false,
        );
      },
      // A throw here closes the socket with its message as the reason: keep only catalogue errors.
      context: (ctx) =>
        createContext(deps, {
          requestId: randomUUID(),
          authorization: authorization(ctx.connectionParams),
          shareToken: typeof (ctx.connectionParams as ConnectionParams | undefined)?.shareToken === 'string' ? ((ctx.connectionParams as ConnectionParams).shareToken as string) : null,
          clientAddress: socketClientAddress(deps, ctx),
        }).catch((err: unknown) => {
          throw contextFailure(deps.log, err);
        }),
      // Results: resolver errors, and variables execution could not coerce.
      onNext: (_ctx, _id, _payload, _args, result) =>
        result.errors ? { ...result, errors: result.errors.map((e) => format(e, 'BAD_USER_INPUT')) as never } : result,
      // Error messages: validation failures, and a source stream that threw mid-stream.
      onError: (_ctx, _id, _payload, errors) => errors.map((e) => format(e, 'GRAPHQL_VALIDATION_FAILED')),
    },
    wss,
  );
}
