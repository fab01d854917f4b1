import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Account, Face, Person } from '../../src/db/entities/index.js';
import { ChestRole, ProcessingStatus } from '../../src/db/enums.js';
import { hashToken } from '../../src/domain/tokens.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { addMember, makeAccount, makeAsset, makeChest } from '../support/factories.js';
import { createGraphQLRunner, type GqlResult, ok } from '../support/graphql.js';
import { makeFace, makePerson } from '../support/people.js';

/**
 * The people access matrix, in the style of test/access-matrix.test.ts: every people field and
 * mutation (OPS) × every kind of caller (ACTORS) × every state of chest (STATES), one test per
 * cell, the expected outcome written once as data. The fixture's photo shows Anna (named), Bill
 * (named, then hidden: he asked not to be shown) and someone nobody has named. Members see all
 * three; everyone else who may read the chest sees Anna only: never an unnamed group, never
 * Bill, never where Bill's or the unnamed person's face is. Every cell also checks that Bill's
 * name never reaches a non-member, a denial on an unreadable chest is NOT_FOUND, and a denied
 * mutation changes nothing.
 *
 * Guests (a contribution link and its guest token) present their credential only to the
 * contribution operations: here they are callers without an account, as `anonymous` is.
 */

type ActorKind = 'anonymous' | 'shareHolder' | 'shareLinkOpener' | 'viewer' | 'editor' | 'owner' | 'otherAccount';
type State = 'private' | 'public' | 'revoked' | 'deleted';
type Outcome = 'ALLOWED' | 'NOT_FOUND' | 'FORBIDDEN' | 'UNAUTHENTICATED' | 'BAD_USER_INPUT';

const ACTORS: readonly ActorKind[] = ['anonymous', 'shareHolder', 'shareLinkOpener', 'viewer', 'editor', 'owner', 'otherAccount'];
const STATES: readonly State[] = ['private', 'public', 'revoked', 'deleted'];
const ROLE: Partial<Record<ActorKind, ChestRole>> = { owner: ChestRole.OWNER, editor: ChestRole.EDITOR, viewer: ChestRole.VIEWER };
const isMember = (a: ActorKind) => ROLE[a] !== undefined;
const isSignedIn = (a: ActorKind) => isMember(a) || a === 'otherAccount';

type Reach = 'share' | 'direct';
function canRead(actor: ActorKind, state: State, reach: Reach): boolean {
  if (state === 'deleted') return false;
  if (isMember(actor) || state === 'public') return true;
  if (state !== 'private') return false;
  return actor === 'shareHolder' || (actor === 'shareLinkOpener' && reach === 'share');
}
const read = (reach: Reach) => (actor: ActorKind, state: State): Outcome => (canRead(actor, state, reach) ? 'ALLOWED' : 'NOT_FOUND');
/** About a person everyone who reads the chest may see (Anna): the chest's rules. */
const editShown = (actor: ActorKind, state: State): Outcome => {
  if (!canRead(actor, state, 'direct')) return 'NOT_FOUND';
  if (actor === 'owner' || actor === 'editor') return 'ALLOWED';
  return isSignedIn(actor) ? 'FORBIDDEN' : 'UNAUTHENTICATED';
};
/** About someone only members know of (Bill, the unnamed group, their faces): NOT_FOUND for everyone else. */
const editMembersOnly = (actor: ActorKind, state: State): Outcome => {
  if (state === 'deleted' || !isMember(actor)) return 'NOT_FOUND';
  return actor === 'viewer' ? 'FORBIDDEN' : 'ALLOWED';
};

interface Fixture {
  chestId: string;
  assetId: string;
  shareToken: string;
  anna: string;
  bill: string;
  unnamed: string;
  annaFace: string;
  billFace: string;
  unnamedFace: string;
  tokens: Record<'owner' | 'editor' | 'viewer' | 'otherAccount', string>;
}

let db: TestDatabase;
let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;

async function fixture(state: State): Promise<Fixture> {
  const em = db.orm.em.fork();
  const people = { owner: await makeAccount(em), editor: await makeAccount(em), viewer: await makeAccount(em), otherAccount: await makeAccount(em) };
  const chest = await makeChest(em, { personName: 'Ada People', isPublic: state === 'public' || state === 'deleted' }, em.getReference(Account, people.owner.account.id));
  await addMember(em, chest, people.editor.account, ChestRole.EDITOR);
  await addMember(em, chest, people.viewer.account, ChestRole.VIEWER);
  const asset = await makeAsset(em, chest, { status: ProcessingStatus.COMPLETE });
  const anna = await makePerson(em, chest, { name: 'Anna' });
  const bill = await makePerson(em, chest, { name: 'Bill Hidden', hidden: true });
  const unnamed = await makePerson(em, chest);
  const annaFace = await makeFace(em, asset, anna, { box: { x: 0.1, y: 0.2, width: 0.2, height: 0.2 } });
  const billFace = await makeFace(em, asset, bill, { box: { x: 0.4, y: 0.2, width: 0.2, height: 0.2 } });
  const unnamedFace = await makeFace(em, asset, unnamed, { box: { x: 0.7, y: 0.2, width: 0.2, height: 0.2 } });
  const asOwner = { token: people.owner.token };
  const shareToken: string = ok(await gql.run(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chest.id }, asOwner)).createShareLink.token;
  if (state === 'revoked') ok(await gql.run(`mutation($id: ID!) { revokeShareLink(chestId: $id) { id } }`, { id: chest.id }, asOwner));
  if (state === 'deleted') ok(await gql.run(`mutation($id: ID!) { deleteChest(id: $id) { id } }`, { id: chest.id }, asOwner));
  return {
    chestId: chest.id,
    assetId: asset.id,
    shareToken,
    anna: anna.id,
    bill: bill.id,
    unnamed: unnamed.id,
    annaFace: annaFace.id,
    billFace: billFace.id,
    unnamedFace: unnamedFace.id,
    tokens: { owner: people.owner.token, editor: people.editor.token, viewer: people.viewer.token, otherAccount: people.otherAccount.token },
  };
}

/** What a denied mutation must leave as it was: every person's name and consent, every face's person and flag. */
async function snapshot(fx: Fixture) {
  const em = db.orm.em.fork();
  const people = await em.find(Person, { chest: fx.chestId }, { orderBy: { id: 'asc' } });
  const faces = await em.find(Face, { chest: fx.chestId }, { orderBy: { id: 'asc' } });
  return {
    people: people.map((p) => `${p.id}|${p.name}|${p.hidden}`),
    faces: faces.map((f) => `${f.id}|${f.person?.id ?? '-'}|${f.assignedByPerson}`),
  };
}

interface Cell {
  fx: Fixture;
  actor: ActorKind;
  as(query: string, variables?: Record<string, unknown>): Promise<GqlResult>;
}

interface Op {
  name: string;
  mutates: boolean;
  reach: Reach;
  exec(c: Cell): Promise<GqlResult>;
  expected(actor: ActorKind, state: State): Outcome;
  verify?(data: any, c: Cell, after: Awaited<ReturnType<typeof snapshot>> | null): void;
}

const onChest =
  (selection: string) =>
  (c: Cell): Promise<GqlResult> =>
    c.actor === 'shareLinkOpener'
      ? c.as(`query($t: String!) { chestByShareToken(token: $t) { id ${selection} } }`, { t: c.fx.shareToken })
      : c.as(`query($id: ID!) { chest(id: $id) { id ${selection} } }`, { id: c.fx.chestId });
const chestOf = (data: any) => data.chestByShareToken ?? data.chest;
const byId =
  (query: string, variables: (fx: Fixture) => Record<string, unknown>) =>
  async (c: Cell): Promise<GqlResult> => {
    if (c.actor === 'shareLinkOpener') await c.as(`query($t: String!) { chestByShareToken(token: $t) { id } }`, { t: c.fx.shareToken });
    return c.as(query, variables(c.fx));
  };

const OPS: readonly Op[] = [
  {
    name: 'Chest.people',
    mutates: false,
    reach: 'share',
    exec: onChest('people { edges { node { id name hidden faceCount cover assets { edges { node { id } } } } } }'),
    expected: read('share'),
    verify(data, c) {
      const people = chestOf(data).people.edges.map((e: any) => e.node);
      if (isMember(c.actor)) {
        expect(people.map((p: any) => [p.id, p.name, p.hidden])).toEqual([
          [c.fx.anna, 'Anna', false],
          [c.fx.bill, 'Bill Hidden', true],
          [c.fx.unnamed, null, false],
        ]);
      } else {
        expect(people.map((p: any) => p.id), 'outside the family: named people who are not hidden').toEqual([c.fx.anna]);
      }
      expect(people[0]).toMatchObject({ faceCount: 1, assets: { edges: [{ node: { id: c.fx.assetId } }] } });
    },
  },
  {
    name: 'Asset.faces',
    mutates: false,
    reach: 'direct',
    exec: byId(`query($id: ID!) { asset(id: $id) { faces { id box { x } person { id name hidden } } } }`, (fx) => ({ id: fx.assetId })),
    expected: read('direct'),
    verify(data, c) {
      const faces = data.asset.faces.map((f: any) => [f.id, f.person?.id ?? null]);
      if (isMember(c.actor)) {
        expect(faces).toEqual([
          [c.fx.annaFace, c.fx.anna],
          [c.fx.billFace, c.fx.bill],
          [c.fx.unnamedFace, c.fx.unnamed],
        ]);
      } else {
        expect(faces, "no box of a hidden or unnamed person's face").toEqual([[c.fx.annaFace, c.fx.anna]]);
      }
    },
  },
  {
    name: 'namePerson(Anna)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($p: ID!) { namePerson(personId: $p, name: "Anna Ellis") { id name } }`, (fx) => ({ p: fx.anna })),
    expected: editShown,
    verify: (data, c, after) => {
      expect(data.namePerson).toEqual({ id: c.fx.anna, name: 'Anna Ellis' });
      expect(after?.people).toContain(`${c.fx.anna}|Anna Ellis|false`);
    },
  },
  {
    name: 'namePerson(unnamed)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($p: ID!) { namePerson(personId: $p, name: "Cousin Jo") { id name } }`, (fx) => ({ p: fx.unnamed })),
    expected: editMembersOnly,
    verify: (_data, c, after) => expect(after?.people).toContain(`${c.fx.unnamed}|Cousin Jo|false`),
  },
  {
    name: 'hidePerson(Anna)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($p: ID!) { hidePerson(personId: $p) { id hidden } }`, (fx) => ({ p: fx.anna })),
    expected: editShown,
    verify: (_data, c, after) => expect(after?.people).toContain(`${c.fx.anna}|Anna|true`),
  },
  {
    name: 'unhidePerson(Bill)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($p: ID!) { unhidePerson(personId: $p) { id hidden } }`, (fx) => ({ p: fx.bill })),
    expected: editMembersOnly,
    verify: (_data, c, after) => expect(after?.people).toContain(`${c.fx.bill}|Bill Hidden|false`),
  },
  {
    name: 'mergePeople(unnamed → Anna)',
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($p: ID!, $into: ID!) { mergePeople(personId: $p, intoPersonId: $into) { id faceCount } }`, (fx) => ({ p: fx.unnamed, into: fx.anna })),
    expected: editMembersOnly,
    verify: (data, c, after) => {
      expect(data.mergePeople).toEqual({ id: c.fx.anna, faceCount: 2 });
      expect(after?.faces).toContain(`${c.fx.unnamedFace}|${c.fx.anna}|true`);
    },
  },
  {
    name: "moveFace(Anna's face → nobody)",
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($f: ID!) { moveFace(faceId: $f, personId: null) { id person { id } } }`, (fx) => ({ f: fx.annaFace })),
    expected: editShown,
    verify: (data, c, after) => {
      expect(data.moveFace).toEqual({ id: c.fx.annaFace, person: null });
      expect(after?.faces).toContain(`${c.fx.annaFace}|-|true`);
    },
  },
  {
    name: "moveFace(Bill's face → Anna)",
    mutates: true,
    reach: 'direct',
    exec: byId(`mutation($f: ID!, $p: ID!) { moveFace(faceId: $f, personId: $p) { id } }`, (fx) => ({ f: fx.billFace, p: fx.anna })),
    expected: editMembersOnly,
    verify: (_data, c, after) => expect(after?.faces).toContain(`${c.fx.billFace}|${c.fx.anna}|true`),
  },
];

function outcomeOf(res: GqlResult): string {
  const error = res.errors?.[0];
  if (error) return String(error.extensions?.code);
  return res.data ? 'ALLOWED' : 'NO_DATA';
}

let cells = 0;
function requestOptions(actor: ActorKind, fx: Fixture) {
  const n = ++cells;
  return {
    token: actor === 'owner' || actor === 'editor' || actor === 'viewer' || actor === 'otherAccount' ? fx.tokens[actor] : null,
    shareToken: actor === 'shareHolder' ? fx.shareToken : null,
    clientAddress: `10.77.${(n >> 8) & 255}.${n & 255}`,
  };
}

async function runCell(op: Op, actor: ActorKind, state: State, fx: Fixture): Promise<void> {
  const options = requestOptions(actor, fx);
  const cell: Cell = { fx, actor, as: (query, variables) => gql.run(query, variables, options) };
  const before = op.mutates ? await snapshot(fx) : null;
  const res = await op.exec(cell);
  const after = op.mutates ? await snapshot(fx) : null;
  const actual = outcomeOf(res);
  const detail = JSON.stringify(res.errors ?? res.data);
  if (!isMember(actor)) expect(detail, "a hidden person's name never reaches anyone outside the family").not.toContain('Bill Hidden');
  expect(detail, 'no token hash').not.toContain(hashToken(fx.shareToken));
  if (actual !== 'ALLOWED' && !canRead(actor, state, op.reach)) expect(actual, `unreadable chest: NOT_FOUND (${detail})`).toBe('NOT_FOUND');
  expect(actual, detail).toBe(op.expected(actor, state));
  if (actual === 'ALLOWED') op.verify?.(res.data, cell, after);
  else if (before) expect(after, 'a denied mutation changes nothing').toEqual(before);
}

describe('people access matrix', () => {
  const readFixtures = new Map<State, Fixture>();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm);
    for (const state of STATES) readFixtures.set(state, await fixture(state));
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  for (const op of OPS) {
    describe(op.name, () => {
      for (const state of STATES) {
        for (const actor of ACTORS) {
          it(`${actor} × ${state} → ${op.expected(actor, state)}`, async () => {
            await runCell(op, actor, state, op.mutates ? await fixture(state) : readFixtures.get(state)!);
          });
        }
      }
    });
  }
});
