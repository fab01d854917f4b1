import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { GraphQLError, GraphQLSchema } from 'graphql';
import { recordRejectedDocument } from '../../metrics/graphql-plugin.js';
import { precheck } from './precheck.js';
import type { QueryLimits } from './query-limits.js';

export interface HttpLimitsInput {
  schema: GraphQLSchema;
  limits: QueryLimits;
  maxPageSize: number;
}

/** GET sends variables as JSON text; anything unreadable is Apollo's to refuse. */
function variablesOf(raw: unknown): Record<string, unknown> | null {
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      return null;
    }
  }
  return raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
}

const refuse = (res: Response, error: { message: string; locations?: unknown; extensions: Record<string, unknown> }) =>
  res.status(400).json({ errors: [error] });

/**
 * Express middleware in front of Apollo: refuses batched bodies and documents over the query
 * limits before Apollo builds a context (which looks the session up in the database) or
 * validates. Anything it cannot read (no query, a persisted-query hash alone) goes on to Apollo,
 * which answers it as before.
 */
export function queryLimitsMiddleware({ schema, limits, maxPageSize }: HttpLimitsInput): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const params: unknown = req.method === 'POST' ? req.body : req.method === 'GET' ? req.query : undefined;
    if (Array.isArray(params)) {
      recordRejectedDocument({ transport: 'http' });
      refuse(res, { message: 'Batched operations are not accepted: send one operation per request.', extensions: { code: 'BAD_REQUEST' } });
      return;
    }
    const { query, variables } = (params ?? {}) as { query?: unknown; variables?: unknown };
    if (typeof query !== 'string') return next();
    const checked = precheck({ schema, limits, maxPageSize, query, variables: variablesOf(variables) });
    if (checked.ok) return next();
    recordRejectedDocument({ transport: 'http', error: checked.error });
    refuse(res, formatted(checked.error));
  };
}

function formatted(error: GraphQLError) {
  const { message, locations, extensions } = error.toJSON();
  return { message, ...(locations && { locations }), extensions: extensions ?? {} };
}
