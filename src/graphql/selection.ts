import { type GraphQLResolveInfo, Kind, type SelectionSetNode } from 'graphql';

/**
 * Every field name the resolving field's selection asks at `path` below it (e.g. edges → node),
 * through fragments, `__typename` left out. @skip/@include are not evaluated: a skipped field
 * counts as asked, so what is read for it is a superset of what is answered.
 */
export function fieldsAt(info: GraphQLResolveInfo, path: readonly string[]): Set<string> {
  const names = new Set<string>();
  const walk = (set: SelectionSetNode | undefined, depth: number): void => {
    if (!set) return;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FIELD) {
        if (depth === path.length) {
          if (sel.name.value !== '__typename') names.add(sel.name.value);
        } else if (sel.name.value === path[depth]) {
          walk(sel.selectionSet, depth + 1);
        }
      } else if (sel.kind === Kind.INLINE_FRAGMENT) {
        walk(sel.selectionSet, depth);
      } else {
        walk(info.fragments[sel.name.value]?.selectionSet, depth);
      }
    }
  };
  for (const node of info.fieldNodes) walk(node.selectionSet, 0);
  return names;
}
