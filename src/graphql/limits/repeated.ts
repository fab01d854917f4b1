import { type DocumentNode, type FieldNode, type FragmentDefinitionNode, Kind, type SelectionSetNode } from 'graphql';

/**
 * The most fields that share one response path once fragments are merged in, over every operation.
 *
 * graphql-js's OverlappingFieldsCanBeMerged compares every pair of fields that answer under the
 * same name at the same place, and again for their sub-selections: `{ __typename ×32,000 }` is
 * half a billion comparisons. Its work is about the sum of the squares of these counts, so
 * bounding the largest one (with the cost limit bounding how many fields there are) keeps it
 * linear. Run it only on a document within the cost limit: it expands fragments where they are
 * spread, so its work is the document's cost, which bounds the expanded selections. It stops as
 * soon as a count passes `stopAbove`.
 */
export function mostRepeatedField(document: DocumentNode, stopAbove = Infinity): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  let most = 0;
  // Each item: the selection sets whose fields answer at one response path.
  const pending: SelectionSetNode[][] = [];
  for (const d of document.definitions) if (d.kind === Kind.OPERATION_DEFINITION) pending.push([d.selectionSet]);
  for (let sets = pending.pop(); sets; sets = pending.pop()) {
    const byName = new Map<string, FieldNode[]>();
    const flatten = (set: SelectionSetNode) => {
      for (const s of set.selections) {
        if (s.kind === Kind.FIELD) {
          const name = s.alias?.value ?? s.name.value;
          const same = byName.get(name);
          if (same) same.push(s);
          else byName.set(name, [s]);
        } else if (s.kind === Kind.INLINE_FRAGMENT) flatten(s.selectionSet);
        else {
          const fragment = fragments.get(s.name.value);
          if (fragment) flatten(fragment.selectionSet);
        }
      }
    };
    for (const set of sets) flatten(set);
    for (const fields of byName.values()) {
      most = Math.max(most, fields.length);
      if (most > stopAbove) return most;
      const below = fields.flatMap((f) => (f.selectionSet ? [f.selectionSet] : []));
      if (below.length) pending.push(below);
    }
  }
  return most;
}
