import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  getNamedType,
  GraphQLError,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  isInterfaceType,
  isObjectType,
  Kind,
  SchemaMetaFieldDef,
  type SelectionNode,
  type SelectionSetNode,
  TypeMetaFieldDef,
  TypeNameMetaFieldDef,
} from 'graphql';
import { DEFAULT_PAGE_SIZE } from '../../domain/pagination.js';
import { introspectionListSize } from './introspection-size.js';

/** What one selection set weighs, fragments expanded. */
export interface Weight {
  /** Deepest chain of fields below (a field is 1). */
  depth: number;
  aliases: number;
  directives: number;
  /** Every field, spread and inline fragment 1; a connection's children `first` times, an introspection list's as many times as it has items. */
  cost: number;
}

export interface MeasureInput {
  schema: GraphQLSchema;
  document: DocumentNode;
  /** The request's variables: `first: $n` is multiplied by the value sent. */
  variables: Record<string, unknown>;
  /** Upper bound of `first` (larger values are refused by the resolvers anyway). */
  maxPageSize: number;
}

const ZERO: Weight = { depth: 0, aliases: 0, directives: 0, cost: 0 };

/**
 * Weighs every operation of a document in time linear in its size: each fragment is weighed once
 * and its weight reused wherever it is spread, so a fragment "bomb" (fragments spreading the next
 * one twice) costs no more to measure than to read, while its weight grows as its result would.
 * Returns the sum over operations for counts and cost, and the deepest operation's depth.
 * A fragment that spreads itself is refused here (full validation would say the same), because
 * its weight is infinite.
 */
export function measureDocument({ schema, document, variables, maxPageSize }: MeasureInput): Weight {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const weighed = new Map<string, Weight | 'in progress'>();

  const fragmentWeight = (name: string): Weight => {
    const known = weighed.get(name);
    if (known === 'in progress') throw new GraphQLError(`Cannot spread fragment "${name}" within itself.`, { extensions: { code: 'GRAPHQL_VALIDATION_FAILED' } });
    if (known) return known;
    const fragment = fragments.get(name);
    // An unknown fragment weighs nothing here; full validation reports it.
    if (!fragment) return ZERO;
    weighed.set(name, 'in progress');
    const w = selectionWeight(fragment.selectionSet, schema.getType(fragment.typeCondition.name.value));
    weighed.set(name, w);
    return w;
  };

  const pageOf = (node: FieldNode, def: GraphQLField<unknown, unknown> | undefined, parent: GraphQLNamedType | undefined): number => {
    const listed = parent?.name.startsWith('__') ? introspectionListSize(schema, parent.name, node.name.value) : undefined;
    if (listed !== undefined) return listed;
    const arg = def?.args.find((a) => a.name === 'first' && getNamedType(a.type).name === 'Int');
    if (!arg) return 1;
    const given = node.arguments?.find((a) => a.name.value === 'first')?.value;
    let n: unknown;
    if (!given) n = arg.defaultValue ?? Math.min(DEFAULT_PAGE_SIZE, maxPageSize);
    else if (given.kind === Kind.INT) n = Number(given.value);
    else if (given.kind === Kind.VARIABLE) n = variables[given.name.value];
    // Anything else (a variable not sent, a wrong literal) counts as the largest page.
    return typeof n === 'number' && Number.isInteger(n) ? Math.min(Math.max(n, 1), maxPageSize) : maxPageSize;
  };

  /** The weight of one selection: a field with what is under it, or a fragment's contents. */
  function weightOf(s: SelectionNode, parent: GraphQLNamedType | undefined): Weight {
    const directives = s.directives?.length ?? 0;
    if (s.kind === Kind.FIELD) {
      const def = fieldOf(schema, parent, s.name.value);
      const below = s.selectionSet ? selectionWeight(s.selectionSet, def && getNamedType(def.type)) : ZERO;
      return {
        depth: below.depth + 1,
        aliases: below.aliases + (s.alias ? 1 : 0),
        directives: below.directives + directives,
        cost: 1 + pageOf(s, def, parent) * below.cost,
      };
    }
    const inner = s.kind === Kind.INLINE_FRAGMENT ? selectionWeight(s.selectionSet, s.typeCondition ? schema.getType(s.typeCondition.name.value) : parent) : fragmentWeight(s.name.value);
    return { ...inner, directives: inner.directives + directives, cost: inner.cost + 1 };
  }

  function selectionWeight(set: SelectionSetNode, parent: GraphQLNamedType | undefined): Weight {
    const total = { ...ZERO };
    for (const s of set.selections) {
      const w = weightOf(s, parent);
      total.depth = Math.max(total.depth, w.depth);
      total.aliases += w.aliases;
      total.directives += w.directives;
      total.cost += w.cost;
    }
    return total;
  }

  const sum = { ...ZERO };
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue;
    const root = d.operation === 'query' ? schema.getQueryType() : d.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    const w = selectionWeight(d.selectionSet, root ?? undefined);
    sum.depth = Math.max(sum.depth, w.depth);
    sum.aliases += w.aliases;
    sum.directives += w.directives + (d.directives?.length ?? 0);
    sum.cost += w.cost;
  }
  return sum;
}

/** The field a selection names, introspection's included; undefined for unknown ones (validation reports them). */
function fieldOf(schema: GraphQLSchema, parent: GraphQLNamedType | undefined, name: string): GraphQLField<unknown, unknown> | undefined {
  if (name === TypeNameMetaFieldDef.name) return TypeNameMetaFieldDef;
  if (parent === schema.getQueryType() && (name === SchemaMetaFieldDef.name || name === TypeMetaFieldDef.name)) {
    return name === SchemaMetaFieldDef.name ? SchemaMetaFieldDef : TypeMetaFieldDef;
  }
  return parent && (isObjectType(parent) || isInterfaceType(parent)) ? parent.getFields()[name] : undefined;
}
