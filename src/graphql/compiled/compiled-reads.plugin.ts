import { type ApolloServerPlugin, HeaderMap } from '@apollo/server';
import { getVariableValues, type OperationDefinitionNode } from 'graphql';
import type { Context } from '../context.js';
import { type ChestPlan, planChest } from './chest-plan.js';
import { readChest } from './chest-read.js';

/**
 * Apollo plugin: a query for one chest and what it holds (chest-plan.ts says which) is answered
 * by the compiled read (chest-read.ts) instead of graphql-js's executor: two statements, and no
 * resolver wrapper or completion step per field. graphql-js completed ~2,500 fields for a page of
 * 100 memories, about a fifth of the request's CPU, and the loaders' five statements cost
 * Postgres as much again (issue 14). It runs after parsing, validation, the query limits and
 * every plugin's didResolveOperation, as execution would. Whatever it does not answer exactly
 * as graphql-js would (an error, a refused selection) it leaves to graphql-js, which then
 * answers it as if nothing had been compiled.
 */
export function compiledReadsPlugin(): ApolloServerPlugin<Context> {
  // Apollo keeps each validated document (its document store), so a plan is made once per query text.
  const plans = new WeakMap<OperationDefinitionNode, ChestPlan | null>();
  return {
    async requestDidStart() {
      return {
        async responseForOperation({ operation, schema, request, contextValue }) {
          if (!operation) return null;
          let plan = plans.get(operation);
          if (plan === undefined) plans.set(operation, (plan = planChest(schema, operation)));
          if (!plan) return null;
          const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {});
          if (coerced.errors) return null;
          try {
            const data = await readChest({ plan, ctx: contextValue, variables: coerced.coerced });
            return { http: { status: undefined, headers: new HeaderMap() }, body: { kind: 'single', singleResult: { data } } };
          } catch {
            return null;
          }
        },
      };
    },
  };
}
