import { getMetadataStorage } from 'type-graphql';
import type { Context } from '../context.js';
import { SCHEMA_RESOLVERS } from '../schema.js';

/**
 * How type-graphql resolves a field, read from its metadata, so the compiled read (chest-plan.ts)
 * resolves it the same way without a table of its own that could drift from the resolvers:
 * - `property`: a plain @Field, read from the object as graphql-js's default resolver does;
 * - `method`: a @FieldResolver taking only @Root() and @Ctx(), called as type-graphql calls it;
 * - `other`: anything else (arguments, @Info, middlewares, roles): the compiled read refuses the
 *   document, or treats the field itself when it is one of the chest's lists (chest-plan.ts).
 */
export type FieldSource =
  | { kind: 'property'; property: string }
  | { kind: 'method'; call: (root: unknown, ctx: Context) => unknown }
  | { kind: 'other' };

type Sources = Map<string, FieldSource>;

let known: Sources | undefined;

/** The source of `typeName.fieldName`; undefined for a field type-graphql does not know (then nothing is compiled). */
export function fieldSource(typeName: string, fieldName: string): FieldSource | undefined {
  known ??= readSources();
  return known.get(`${typeName}.${fieldName}`);
}

function readSources(): Sources {
  const storage = getMetadataStorage();
  const sources: Sources = new Map();
  const typeNameOf = new Map<Function, string>();
  for (const type of storage.objectTypes) {
    typeNameOf.set(type.target, type.name);
    // Its own fields, then those it inherits (a subclass's field of the same name wins).
    for (let target: Function | null = type.target; target && target !== Object && target !== Function.prototype; target = Object.getPrototypeOf(target)) {
      for (const field of storage.fields) {
        const key = `${type.name}.${field.schemaName}`;
        if (field.target !== target || sources.has(key)) continue;
        const plain = !field.params?.length && !field.middlewares?.length && !field.roles?.length;
        sources.set(key, plain ? { kind: 'property', property: field.name } : { kind: 'other' });
      }
    }
  }
  const instances = new Map<Function, Record<string, (...args: unknown[]) => unknown>>();
  const resolved = new Set<string>();
  for (const resolver of storage.fieldResolvers) {
    // As buildSchema: only the schema's resolver classes count, and the first that resolves a field wins.
    if (!SCHEMA_RESOLVERS.includes(resolver.target)) continue;
    const objectType = resolver.getObjectType?.();
    const typeName = objectType && typeNameOf.get(objectType);
    if (!typeName) continue;
    const key = `${typeName}.${resolver.schemaName}`;
    if (resolved.has(key)) continue;
    resolved.add(key);
    const params = [...(resolver.params ?? [])].sort((a, b) => a.index - b.index);
    const direct =
      !resolver.middlewares?.length &&
      !resolver.roles?.length &&
      params.every((p) => (p.kind === 'context' || p.kind === 'root') && !p.propertyName) &&
      params.every((p, i) => p.index === i);
    if (!direct) {
      sources.set(key, { kind: 'other' });
      continue;
    }
    let instance = instances.get(resolver.target);
    if (!instance) instances.set(resolver.target, (instance = new (resolver.target as new () => Record<string, (...args: unknown[]) => unknown>)()));
    const self = instance;
    const method = self[resolver.methodName]!;
    const kinds = params.map((p) => p.kind);
    sources.set(key, { kind: 'method', call: (root, ctx) => method.apply(self, kinds.map((k) => (k === 'root' ? root : ctx))) });
  }
  return sources;
}
