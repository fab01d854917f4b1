import {
  type FieldNode,
  getNamedType,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLOutputType,
  type GraphQLSchema,
  isAbstractType,
  isObjectType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  TypeNameMetaFieldDef,
} from 'graphql';
import type { Completer } from './complete.js';
import { type FieldSource, fieldSource } from './field-sources.js';

/** The chest's fields that the compiled read loads itself, all in one statement (chest-read.ts). */
export type PartName = 'summary' | 'assets' | 'stories' | 'contributions';
const TYPENAME = TypeNameMetaFieldDef as GraphQLField<unknown, unknown>;
const PARTS: ReadonlySet<string> = new Set<PartName>(['summary', 'assets', 'stories', 'contributions']);

export type PlanSource = Exclude<FieldSource, { kind: 'other' }> | { kind: 'typename'; typeName: string } | { kind: 'part'; part: PartName }
  /** The chest itself, which the read loads through the access check first. */
  | { kind: 'root' };

/** One field of the answer: where its value comes from, and (for objects) what is asked of it. */
export interface FieldPlan {
  /** Its key in the answer: the alias, else the name. */
  key: string;
  node: FieldNode;
  field: GraphQLField<unknown, unknown>;
  type: GraphQLOutputType;
  source: PlanSource;
  /** The fields asked of the value, for an object type; null for a scalar or an enum. */
  children: FieldPlan[] | null;
  /** How a value of this field becomes its part of the answer: made by complete.ts on first use. */
  complete?: Completer;
}

export interface ChestPlan {
  /** `chest(id:)`, the operation's only root field. */
  root: FieldPlan;
  parts: ReadonlyMap<PartName, FieldPlan>;
}

/**
 * The compiled read of a query that asks for one chest and nothing else: its plan, or null when
 * graphql-js must answer it. Refused: other root fields, fragments, directives, a response key
 * asked twice in one selection, interfaces and unions, arguments anywhere but on the chest and
 * its lists, and any field whose resolver needs more than its object and the context
 * (field-sources.ts). What is refused is answered exactly as before, only not faster.
 */
export function planChest(schema: GraphQLSchema, operation: OperationDefinitionNode): ChestPlan | null {
  const queryType = schema.getQueryType();
  if (operation.operation !== 'query' || !queryType || operation.directives?.length) return null;
  const [only, ...others] = operation.selectionSet.selections;
  if (!only || others.length > 0 || only.kind !== Kind.FIELD || only.name.value !== 'chest' || only.directives?.length || !only.selectionSet) return null;
  const field = queryType.getFields().chest;
  const chestType = field && getNamedType(field.type);
  if (!field || !isObjectType(chestType)) return null;
  const parts = new Map<PartName, FieldPlan>();
  const children = plansOf(chestType, only.selectionSet, parts);
  if (!children) return null;
  const root: FieldPlan = { key: only.alias?.value ?? 'chest', node: only, field, type: field.type, source: { kind: 'root' }, children };
  return { root, parts };
}

/** The plans of one selection set, or null when any of it is refused. With `parts`: the chest's own set, whose lists are parts. */
function plansOf(type: GraphQLObjectType, set: SelectionSetNode, parts?: Map<PartName, FieldPlan>): FieldPlan[] | null {
  const plans: FieldPlan[] = [];
  const keys = new Set<string>();
  for (const selection of set.selections) {
    if (selection.kind !== Kind.FIELD || selection.directives?.length) return null;
    const name = selection.name.value;
    const key = selection.alias?.value ?? name;
    if (keys.has(key)) return null;
    keys.add(key);
    if (name === '__typename') {
      if (selection.arguments?.length) return null;
      plans.push({ key, node: selection, field: TYPENAME, type: TYPENAME.type, source: { kind: 'typename', typeName: type.name }, children: null });
      continue;
    }
    const field = type.getFields()[name];
    if (!field) return null;
    const part = parts && PARTS.has(name) ? (name as PartName) : null;
    let source: PlanSource;
    if (part) {
      if (parts!.has(part)) return null;
      source = { kind: 'part', part };
    } else {
      const known = fieldSource(type.name, name);
      if (!known || known.kind === 'other' || selection.arguments?.length || field.args.length) return null;
      source = known;
    }
    const named = getNamedType(field.type);
    let children: FieldPlan[] | null = null;
    if (isObjectType(named)) {
      if (!selection.selectionSet) return null;
      children = plansOf(named, selection.selectionSet);
      if (!children) return null;
    } else if (isAbstractType(named) || selection.selectionSet) {
      return null; // an interface or a union: which object type each value is, graphql-js decides
    }
    const plan: FieldPlan = { key, node: selection, field, type: field.type, source, children };
    if (part) parts!.set(part, plan);
    plans.push(plan);
  }
  return plans;
}

/** The field names asked at `path` below a plan (e.g. edges → node), __typename left out. */
export function namesAt(plan: FieldPlan, path: readonly string[]): Set<string> {
  let level: FieldPlan[] = plan.children ?? [];
  for (const step of path) level = level.filter((p) => p.field.name === step).flatMap((p) => p.children ?? []);
  return new Set(level.filter((p) => p.source.kind !== 'typename').map((p) => p.field.name));
}
