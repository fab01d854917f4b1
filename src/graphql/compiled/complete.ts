import { type GraphQLOutputType, isLeafType, isListType, isNonNullType } from 'graphql';
import type { Context } from '../context.js';
import type { FieldPlan, PartName } from './chest-plan.js';

/**
 * The compiled read gives up: graphql-js answers the request instead (with its errors, its null
 * propagation), as if nothing had been compiled. Thrown for anything the compiled read does not
 * answer exactly as graphql-js would.
 */
export class Refused extends Error {}

export interface Run {
  ctx: Context;
  /** The chest's lists and summary as their resolvers would return them (chest-read.ts). */
  parts: ReadonlyMap<PartName, unknown>;
  /** The chest, for the root plan. */
  chest: unknown;
}

/** A field's value made into its part of the answer (completeValue for one field's type, decided once). */
export type Completer = (value: unknown, run: Run) => unknown;

const isPromise = (value: unknown): value is Promise<unknown> => typeof (value as Promise<unknown> | null)?.then === 'function';

/**
 * The answer for an object, in the selection's order: what graphql-js's executeFields and
 * completeValue make of it, for the plans chest-plan.ts accepts. Every field of an object (and
 * every item of a list) starts before any is awaited, so the batch loaders still batch.
 */
export function completeObject(plans: readonly FieldPlan[], parent: unknown, run: Run): Record<string, unknown> | Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let pending: Promise<void>[] | null = null;
  try {
    for (const plan of plans) {
      const complete = completerOf(plan);
      const value = resolve(plan, parent, run);
      const done = isPromise(value) ? value.then((v) => complete(v, run)) : complete(value, run);
      if (isPromise(done)) {
        out[plan.key] = null;
        (pending ??= []).push(done.then((v) => void (out[plan.key] = v)));
      } else {
        out[plan.key] = done;
      }
    }
  } catch (err) {
    abandon(pending);
    throw err;
  }
  return pending ? Promise.all(pending).then(() => out) : out;
}

/**
 * Fields already started when a later one gives up: nobody will await them, so their own
 * failures must not surface as unhandled rejections (which end a Node process).
 */
function abandon(started: readonly unknown[] | null): void {
  for (const value of started ?? []) if (isPromise(value)) value.catch(() => undefined);
}

function resolve(plan: FieldPlan, parent: unknown, run: Run): unknown {
  const source = plan.source;
  switch (source.kind) {
    case 'typename':
      return source.typeName;
    case 'property': {
      const value = (parent as Record<string, unknown>)[source.property];
      // graphql-js's default resolver would call it with (args, context, info): not ours to guess.
      if (typeof value === 'function') throw new Refused();
      return value;
    }
    case 'method':
      return source.call(parent, run.ctx);
    case 'part':
      return run.parts.get(source.part);
    case 'root':
      return run.chest;
  }
}

/** A field's value completed as its type says (the plan's own completer, made on first use). */
export function completeValue(plan: FieldPlan, value: unknown, run: Run): unknown {
  return completerOf(plan)(value, run);
}

function completerOf(plan: FieldPlan): Completer {
  return (plan.complete ??= completerFor(plan.type, plan));
}

/** graphql-js's completeValue, with its type checks made once per field instead of once per value. */
function completerFor(type: GraphQLOutputType, plan: FieldPlan): Completer {
  if (isNonNullType(type)) {
    const inner = completerFor(type.ofType, plan);
    return (value, run) => {
      const done = inner(value, run);
      return isPromise(done) ? done.then(present) : present(done);
    };
  }
  if (isListType(type)) {
    const item = completerFor(type.ofType, plan);
    return (value, run) => {
      if (value === null || value === undefined) return null;
      if (!Array.isArray(value)) throw new Refused();
      let promised = false;
      const items: unknown[] = [];
      try {
        for (const v of value) {
          const done = isPromise(v) ? v.then((x) => item(x, run)) : item(v, run);
          promised ||= isPromise(done);
          items.push(done);
        }
      } catch (err) {
        abandon(items);
        throw err;
      }
      return promised ? Promise.all(items) : items;
    };
  }
  if (isLeafType(type)) {
    return (value) => {
      if (value === null || value === undefined) return null;
      let serialized: unknown;
      try {
        serialized = type.serialize(value);
      } catch {
        throw new Refused();
      }
      // graphql-js reports a leaf that serialises to nothing as an error, null included.
      if (serialized === undefined || serialized === null) throw new Refused();
      return serialized;
    };
  }
  const children = plan.children!;
  return (value, run) => (value === null || value === undefined ? null : completeObject(children, value, run));
}

/** A non-null field that came out null: graphql-js answers with its error and null propagation. */
function present(value: unknown): unknown {
  if (value === null || value === undefined) throw new Refused();
  return value;
}
