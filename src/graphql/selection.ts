import { type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * Whether the resolving field's selection asks, at `path` below it (e.g. edges → node), for any
 * of `names`, through fragments. @skip/@include are not evaluated: a skipped field counts as
 * asked. For loading ahead what the nested fields will need; never for deciding access.
 */
export function selects(info: GraphQLResolveInfo, path: readonly string[], names: ReadonlySet<string>): boolean {
  const walk = (set: SelectionSetNode | undefined, depth: number): boolean => {
    if (!set) return false;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (depth === path.length ? names.has(sel.name.value) : sel.name.value === path[depth] && walk(sel.selectionSet, depth + 1)) return true;
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        if (walk(sel.selectionSet, depth)) return true;
      } else if (walk(info.fragments[sel.name.value]?.selectionSet, depth)) {
        return true;
      }
    }
    return false;
  };
  return info.fieldNodes.some((node) => walk(node.selectionSet, 0));
}

/**
 * Whether every field the resolving field's selection asks at `path` below it is one of `names`
 * (through fragments; `__typename` always counts as one). True when nothing is asked there. For
 * leaving out what no asked field reads: an unknown field answers false, so the default is to load all.
 */
export function selectsOnly(info: GraphQLResolveInfo, path: readonly string[], names: ReadonlySet<string>): boolean {
  const walk = (set: SelectionSetNode | undefined, depth: number): boolean => {
    if (!set) return true;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        const name = sel.name.value;
        if (depth === path.length ? name !== '__typename' && !names.has(name) : name === path[depth] && !walk(sel.selectionSet, depth + 1)) return false;
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        if (!walk(sel.selectionSet, depth)) return false;
      } else if (!walk(info.fragments[sel.name.value]?.selectionSet, depth)) {
        return false;
      }
    }
    return true;
  };
  return info.fieldNodes.every((node) => walk(node.selectionSet, 0));
}
