import { type GraphQLSchema, isAbstractType, isEnumType, isInputObjectType, isInterfaceType, isObjectType } from 'graphql';

const sizes = new WeakMap<GraphQLSchema, Map<string, number>>();

/**
 * How many items an introspection list answers, on average, keyed `__Type.fields`: these lists
 * have no `first`, but their lengths are known from the schema, so the cost limit can weigh
 * `__schema { types { fields { type { fields … } } } }` by what it would really return rather
 * than letting it through at one item per list. At least 1, like every multiplier.
 */
export function introspectionListSize(schema: GraphQLSchema, parent: string, field: string): number | undefined {
  let known = sizes.get(schema);
  if (!known) sizes.set(schema, (known = measure(schema)));
  return known.get(`${parent}.${field}`);
}

function measure(schema: GraphQLSchema): Map<string, number> {
  const types = Object.values(schema.getTypeMap());
  const composite = types.filter((t) => isObjectType(t) || isInterfaceType(t));
  const fields = composite.flatMap((t) => Object.values(t.getFields()));
  const directives = schema.getDirectives();
  const per = (total: number, of: number) => Math.max(1, of ? total / of : 1);
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return new Map([
    ['__Schema.types', per(types.length, 1)],
    ['__Schema.directives', per(directives.length, 1)],
    // Asked of every type: averaged over all of them.
    ['__Type.fields', per(fields.length, types.length)],
    ['__Type.interfaces', per(sum(composite.map((t) => t.getInterfaces().length)), types.length)],
    ['__Type.possibleTypes', per(sum(types.filter(isAbstractType).map((t) => schema.getPossibleTypes(t).length)), types.length)],
    ['__Type.enumValues', per(sum(types.filter(isEnumType).map((t) => t.getValues().length)), types.length)],
    ['__Type.inputFields', per(sum(types.filter(isInputObjectType).map((t) => Object.keys(t.getFields()).length)), types.length)],
    ['__Field.args', per(sum(fields.map((f) => f.args.length)), fields.length)],
    ['__Directive.args', per(sum(directives.map((d) => d.args.length)), directives.length)],
  ]);
}
