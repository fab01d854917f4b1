import fc from 'fast-check';
import {
  getNamedType,
  type GraphQLArgument,
  type GraphQLField,
  type GraphQLInputType,
  GraphQLEnumType,
  GraphQLInputObjectType,
  GraphQLInterfaceType,
  GraphQLList,
  GraphQLNonNull,
  GraphQLObjectType,
  type GraphQLOutputType,
  GraphQLScalarType,
  type GraphQLSchema,
  GraphQLUnionType,
  isLeafType,
} from 'graphql';

/** Values the generator mixes into every argument: ids and tokens of the seeded world. */
export interface Pools {
  /** Ids of every seeded row, including the private chest's (access must hold for them too). */
  ids: string[];
  /** Share, contribution-link and guest tokens, valid and revoked. */
  tokens: string[];
}

export interface Operation {
  kind: 'query' | 'mutation' | 'subscription';
  /** The root field, for the figures. */
  field: string;
  query: string;
  variables: Record<string, unknown>;
}

/** How deep a selection goes below the root field, and how many fields each level picks. */
const MAX_DEPTH = 3;
const MAX_FIELDS = 4;

/** Dates at and past what PostgreSQL, JavaScript and the ISO scalars hold. */
const EDGE_DATES = ['0000-01-01', '0001-01-01', '9999-12-31', '10000-01-01', '-0001-01-01', '275760-09-14', '2021-02-29', 'NaN', '1962-06-01', '2999-01-01'];
const EDGE_TIMES = ['0000-01-01T00:00:00Z', '0001-01-01T00:00:00+01:00', '9999-12-31T23:00:00-14:00', '275760-09-13T00:00:00Z', '2099-01-01T00:00:00Z', '1962-06-01T12:00:00', 'not a time'];
/** Strings that have broken parsers: controls, bidi overrides, lone surrogates, SQL and markup. */
const ODD_STRINGS = ['', ' ', '\u0000', 'a\u202egpj.exe', '\ud800', '\udfff\ud800', '😀'.repeat(300), "'; drop table chest; --", '<script>alert(1)</script>', '%00', '../../etc/passwd', '\u200b', 'Ω'.repeat(2001), 'NaN', '-1', '1e309'];
const HUGE = 'x'.repeat(200_000);

const oddString = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 3, arbitrary: fc.constantFrom(...ODD_STRINGS) },
  { weight: 1, arbitrary: fc.constantFrom(...EDGE_DATES, ...EDGE_TIMES) },
  { weight: 1, arbitrary: fc.constant(HUGE) },
);

const oddNumber = fc.oneof(
  fc.integer({ min: -3, max: 200 }),
  fc.constantFrom(0, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53, 1e300, -1e300, 0.5, Number.MAX_SAFE_INTEGER + 2),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);

/** Anything JSON can carry, for arguments given the wrong type on purpose. */
const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  oddNumber,
  oddString,
  fc.array(fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant(null)), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 5 }), fc.constant({ deep: [null, { deeper: 1 }] })), { maxKeys: 3 }),
);

export function operationArbitrary(schema: GraphQLSchema, pools: Pools, kinds: Operation['kind'][] = ['query', 'mutation']): fc.Arbitrary<Operation> {
  const roots = kinds.flatMap((kind) => {
    const type = kind === 'query' ? schema.getQueryType() : kind === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
    return type ? Object.values(type.getFields()).map((field) => ({ kind, field })) : [];
  });
  const id = fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...pools.ids) }, { weight: 1, arbitrary: fc.uuid() }, { weight: 1, arbitrary: oddString });
  const token = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...pools.tokens) }, { weight: 1, arbitrary: oddString });

  /** A value for an input type: usually of that type, sometimes wrong, null or missing. */
  const valueOf = (type: GraphQLInputType, name: string, depth = 0): fc.Arbitrary<unknown> => {
    const nullable = !(type instanceof GraphQLNonNull);
    const inner = type instanceof GraphQLNonNull ? type.ofType : type;
    const right = typed(inner, name, depth);
    return fc.oneof(
      { weight: 12, arbitrary: right },
      { weight: 2, arbitrary: wrongValue },
      { weight: nullable ? 2 : 1, arbitrary: fc.constant(null) },
    );
  };
  const typed = (type: GraphQLInputType, name: string, depth: number): fc.Arbitrary<unknown> => {
    if (type instanceof GraphQLList) return fc.array(valueOf(type.ofType, name, depth + 1), { maxLength: depth > 2 ? 1 : 4 });
    if (type instanceof GraphQLInputObjectType) {
      const fields = Object.values(type.getFields());
      return fc
        .record(Object.fromEntries(fields.map((f) => [f.name, valueOf(f.type, f.name, depth + 1)])), { requiredKeys: fields.filter((f) => f.type instanceof GraphQLNonNull).map((f) => f.name) })
        .chain((obj) => fc.oneof({ weight: 9, arbitrary: fc.constant(obj) }, { weight: 1, arbitrary: fc.constant({ ...obj, notAField: 1 }) }));
    }
    if (type instanceof GraphQLEnumType) return fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...type.getValues().map((v) => v.name)) }, { weight: 1, arbitrary: oddString });
    const scalar = (type as GraphQLScalarType).name;
    if (scalar === 'ID') return id;
    if (scalar === 'Boolean') return fc.boolean();
    if (scalar === 'Int' || scalar === 'SafeInt' || scalar === 'Float') return oddNumber;
    if (scalar === 'LocalDate') return fc.oneof(fc.constantFrom(...EDGE_DATES), fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)));
    if (scalar === 'DateTimeISO') return fc.oneof(fc.constantFrom(...EDGE_TIMES), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()));
    if (/token/i.test(name)) return token;
    if (/email/i.test(name)) return fc.oneof(fc.emailAddress(), oddString);
    if (/id$/i.test(name)) return id;
    return oddString;
  };

  /** Arguments declared as variables ($a0, $a1, …), some optional ones left out. */
  const argsOf = (args: readonly GraphQLArgument[], prefix: string) =>
    fc.tuple(...args.map((a) => fc.record({ value: valueOf(a.type, a.name), omit: fc.boolean() }))).map((picked) => {
      const vars: Record<string, unknown> = {};
      const decls: string[] = [];
      const uses: string[] = [];
      picked.forEach(({ value, omit }, i) => {
        const arg = args[i]!;
        if (omit && !(arg.type instanceof GraphQLNonNull)) return;
        const v = `${prefix}${i}`;
        decls.push(`$${v}: ${arg.type.toString()}`);
        uses.push(`${arg.name}: $${v}`);
        vars[v] = value;
      });
      return { vars, decls, uses };
    });

  type Built = { text: string; vars: Record<string, unknown>; decls: string[] };
  let counter = 0;
  /** A selection of the output type: leaves, and objects to MAX_DEPTH, each with generated arguments. */
  const selectionOf = (type: GraphQLOutputType, depth: number): fc.Arbitrary<Built> => {
    const named = getNamedType(type);
    if (isLeafType(named)) return fc.constant({ text: '', vars: {}, decls: [] });
    if (named instanceof GraphQLUnionType || named instanceof GraphQLInterfaceType) {
      const possible = named instanceof GraphQLUnionType ? named.getTypes() : [];
      if (!possible.length) return fc.constant({ text: '{ __typename }', vars: {}, decls: [] });
      return fc.constantFrom(...possible).chain((t) => selectionOf(t, depth).map((s) => ({ ...s, text: `{ __typename ... on ${t.name} ${s.text} }` })));
    }
    const fields = Object.values((named as GraphQLObjectType).getFields()).filter((f) => depth < MAX_DEPTH || isLeafType(getNamedType(f.type)));
    if (!fields.length) return fc.constant({ text: '{ __typename }', vars: {}, decls: [] });
    return fc.subarray(fields, { minLength: 1, maxLength: Math.min(MAX_FIELDS, fields.length) }).chain((chosen) =>
      fc.tuple(...chosen.map((f) => fieldOf(f, depth + 1))).map((parts) => ({
        text: `{ __typename ${parts.map((p) => p.text).join(' ')} }`,
        vars: Object.assign({}, ...parts.map((p) => p.vars)),
        decls: parts.flatMap((p) => p.decls),
      })),
    );
  };
  const fieldOf = (field: GraphQLField<unknown, unknown>, depth: number): fc.Arbitrary<Built> =>
    fc.tuple(argsOf(field.args, `v${counter++}_`), selectionOf(field.type, depth)).map(([args, sel]) => ({
      text: `${field.name}${args.uses.length ? `(${args.uses.join(', ')})` : ''} ${sel.text}`,
      vars: { ...args.vars, ...sel.vars },
      decls: [...args.decls, ...sel.decls],
    }));

  return fc.constantFrom(...roots).chain(({ kind, field }) =>
    fieldOf(field, 0).map((built) => ({
      kind,
      field: field.name,
      query: `${kind} Fuzz${built.decls.length ? `(${built.decls.join(', ')})` : ''} { ${built.text} }`,
      variables: built.vars,
    })),
  );
}
