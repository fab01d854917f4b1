import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../src/db/entities/index.js';
import { Contribution } from '../src/db/entities/index.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { makeAccount, makeAsset } from './support/factories.js';
import { createGraphQLRunner, type GqlResult } from './support/graphql.js';

/**
 * Random sequences of people, visibility, link and moderation changes, checked after every step
 * against a model: what each actor can see must be what the rules say.
 */
type Who = 'A' | 'B' | 'C';
type Role = 'OWNER' | 'EDITOR' | 'VIEWER';
const WHO: Who[] = ['A', 'B', 'C'];
const ROLES: Role[] = ['OWNER', 'EDITOR', 'VIEWER'];

interface Model {
  roles: Record<Who, Role | null>;
  isPublic: boolean;
  deleted: boolean;
  allowContributions: boolean;
  shareToken: string | null;
  staleShareTokens: string[];
  contributionLink: string | null;
  contributions: { id: string; guestToken: string; status: 'PENDING' | 'APPROVED' | 'REJECTED' }[];
}

interface Real {
  run(query: string, variables: Record<string, unknown>, opts?: { token?: string | null; shareToken?: string | null }): Promise<GqlResult>;
  token: Record<Who, string>;
  email: Record<Who, string>;
  accountId: Record<Who, string>;
  chestId: string;
  db: TestDatabase;
}

const code = (r: GqlResult) => (r.errors?.length ? String(r.errors[0]!.extensions?.code) : 'OK');

// ---- the rules, as the model sees them -------------------------------------------------------
const live = (m: Model) => !m.deleted;
const canRead = (m: Model, w: Who) => live(m) && (m.roles[w] !== null || m.isPublic);
/** Outcome of an owner-only action by w. */
const manage = (m: Model, w: Who) => (!live(m) ? 'NOT_FOUND' : m.roles[w] === 'OWNER' ? 'OK' : canRead(m, w) ? 'FORBIDDEN' : 'NOT_FOUND');
const owners = (m: Model) => WHO.filter((w) => m.roles[w] === 'OWNER').length;

type Cmd = fc.AsyncCommand<Model, Real>;

function command(name: string, act: (m: Model, r: Real) => Promise<void>): Cmd {
  return { check: () => true, run: async (m, r) => { await act(m, r); await verify(m, r); }, toString: () => name };
}

const mutate = (r: Real, w: Who | null, query: string, variables: Record<string, unknown> = {}) =>
  r.run(query, { c: r.chestId, ...variables }, { token: w ? r.token[w] : null });

const commands = [
  fc.tuple(fc.constantFrom(...WHO), fc.constantFrom(...WHO), fc.constantFrom(...ROLES)).map(([by, who, role]) =>
    command(`${by} invites ${who} as ${role}`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!, $e: String!, $r: ChestRole!) { inviteMember(chestId: $c, email: $e, role: $r) { role } }`, { e: r.email[who], r: role });
      const want = manage(m, by) === 'OK' ? (m.roles[who] ? 'CONFLICT' : 'OK') : manage(m, by);
      expect(code(res)).toBe(want);
      if (want === 'OK') m.roles[who] = role;
    }),
  ),
  fc.tuple(fc.constantFrom(...WHO), fc.constantFrom(...WHO), fc.constantFrom(...ROLES)).map(([by, who, role]) =>
    command(`${by} makes ${who} ${role}`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!, $a: ID!, $r: ChestRole!) { changeMemberRole(chestId: $c, accountId: $a, role: $r) { role } }`, { a: r.accountId[who], r: role });
      let want = manage(m, by);
      if (want === 'OK' && !m.roles[who]) want = 'NOT_FOUND';
      else if (want === 'OK' && m.roles[who] === 'OWNER' && role !== 'OWNER' && owners(m) === 1) want = 'CONFLICT';
      expect(code(res)).toBe(want);
      if (want === 'OK') m.roles[who] = role;
    }),
  ),
  fc.tuple(fc.constantFrom(...WHO), fc.constantFrom(...WHO)).map(([by, who]) =>
    command(`${by} removes ${who}`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!, $a: ID!) { removeMember(chestId: $c, accountId: $a) }`, { a: r.accountId[who] });
      let want: string;
      if (!canRead(m, by)) want = 'NOT_FOUND';
      else if (by === who) want = m.roles[by] ? 'OK' : 'FORBIDDEN';
      else want = m.roles[by] === 'OWNER' ? (m.roles[who] ? 'OK' : 'NOT_FOUND') : 'FORBIDDEN';
      if (want === 'OK' && m.roles[who] === 'OWNER' && owners(m) === 1) want = 'CONFLICT';
      expect(code(res)).toBe(want);
      if (want === 'OK') m.roles[who] = null;
    }),
  ),
  fc.tuple(fc.constantFrom(...WHO), fc.boolean()).map(([by, on]) =>
    command(`${by} sets public=${on}`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!, $p: Boolean!) { updateChest(id: $c, input: { isPublic: $p }) { id } }`, { p: on });
      expect(code(res)).toBe(manage(m, by));
      if (manage(m, by) === 'OK') m.isPublic = on;
    }),
  ),
  fc.constantFrom(...WHO).map((by) =>
    command(`${by} makes a share link`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!) { createShareLink(chestId: $c) { token } }`);
      expect(code(res)).toBe(manage(m, by));
      if (code(res) === 'OK') {
        if (m.shareToken) m.staleShareTokens.push(m.shareToken);
        m.shareToken = (res.data as any).createShareLink.token;
      }
    }),
  ),
  fc.constantFrom(...WHO).map((by) =>
    command(`${by} revokes the share link`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!) { revokeShareLink(chestId: $c) { id } }`);
      expect(code(res)).toBe(manage(m, by));
      if (code(res) === 'OK' && m.shareToken) {
        m.staleShareTokens.push(m.shareToken);
        m.shareToken = null;
      }
    }),
  ),
  fc.tuple(fc.constantFrom(...WHO), fc.boolean()).map(([by, on]) =>
    command(`${by} sets contributions=${on} and makes a link`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!, $p: Boolean!) { updateChest(id: $c, input: { allowContributions: $p }) { id } }`, { p: on });
      expect(code(res)).toBe(manage(m, by));
      if (code(res) !== 'OK') return;
      m.allowContributions = on;
      const link = await mutate(r, by, `mutation($c: ID!) { createContributionLink(chestId: $c) { token } }`);
      expect(code(link)).toBe(on ? 'OK' : 'CONFLICT');
      if (on) m.contributionLink = (link.data as any).createContributionLink.token;
    }),
  ),
  fc.constant(
    command('a guest submits through the link', async (m, r) => {
      if (!m.contributionLink) return;
      const res = await r.run(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "G" }) { guestToken contribution { id } } }`, { t: m.contributionLink });
      const want = live(m) && m.allowContributions ? 'OK' : 'NOT_FOUND';
      expect(code(res)).toBe(want);
      if (want !== 'OK') return;
      const sent = (res.data as any).submitContribution;
      // One memory rides with each contribution, hidden until approval.
      const em = r.db.orm.em.fork();
      const c = await em.findOneOrFail(Contribution, sent.contribution.id, { populate: ['chest'] });
      await makeAsset(em, c.chest, { contribution: c });
      m.contributions.push({ id: sent.contribution.id, guestToken: sent.guestToken, status: 'PENDING' });
    }),
  ),
  fc.tuple(fc.constantFrom(...WHO), fc.nat(4), fc.boolean()).map(([by, i, approve]) =>
    command(`${by} ${approve ? 'approves' : 'rejects'} contribution #${i}`, async (m, r) => {
      const c = m.contributions[i];
      if (!c) return;
      const res = await mutate(r, by, `mutation($id: ID!) { ${approve ? 'approveContribution' : 'rejectContribution'}(id: $id) { status } }`, { id: c.id });
      const role = live(m) ? m.roles[by] : null;
      const want = role === 'OWNER' ? (c.status === 'PENDING' ? 'OK' : 'CONFLICT') : role === 'EDITOR' ? 'FORBIDDEN' : 'NOT_FOUND';
      expect(code(res)).toBe(want);
      if (want === 'OK') c.status = approve ? 'APPROVED' : 'REJECTED';
    }),
  ),
  fc.tuple(fc.constantFrom(...WHO), fc.boolean()).map(([by, del]) =>
    command(`${by} ${del ? 'deletes' : 'restores'} the chest`, async (m, r) => {
      const res = await mutate(r, by, `mutation($c: ID!) { ${del ? 'deleteChest' : 'restoreChest'}(id: $c) { id } }`);
      let want: string;
      if (del) want = manage(m, by);
      else if (m.deleted) want = m.roles[by] === 'OWNER' ? 'OK' : 'NOT_FOUND';
      else want = manage(m, by) === 'OK' ? 'CONFLICT' : manage(m, by);
      expect(code(res)).toBe(want);
      if (want === 'OK') m.deleted = del;
    }),
  ),
];

/** After every step: what each actor sees matches the model. */
async function verify(m: Model, r: Real): Promise<void> {
  const Q = `query($c: ID!) { chest(id: $c) { myRole summary { totalAssets } } }`;
  for (const w of WHO) {
    const res = await r.run(Q, { c: r.chestId }, { token: r.token[w] });
    expect(code(res), `${w} reads`).toBe(canRead(m, w) ? 'OK' : 'NOT_FOUND');
    if (canRead(m, w)) {
      expect((res.data as any).chest.myRole, `${w}'s role`).toBe(m.roles[w]);
      expect((res.data as any).chest.summary.totalAssets).toBe(m.contributions.filter((c) => c.status === 'APPROVED').length);
    }
    const mine = await r.run(`{ chests(first: 100) { edges { node { id } } } }`, {}, { token: r.token[w] });
    expect((mine.data as any).chests.edges.some((e: any) => e.node.id === r.chestId), `${w}'s list`).toBe(live(m) && m.roles[w] !== null);
    const list = await r.run(`query($c: ID!) { chest(id: $c) { contributions(first: 100) { edges { node { id } } } } }`, { c: r.chestId }, { token: r.token[w] });
    const moderates = live(m) && (m.roles[w] === 'OWNER' || m.roles[w] === 'EDITOR');
    expect(code(list), `${w} sees contributions`).toBe(moderates ? 'OK' : canRead(m, w) ? 'FORBIDDEN' : 'NOT_FOUND');
    if (moderates) expect((list.data as any).chest.contributions.edges).toHaveLength(m.contributions.length);
  }
  expect(code(await r.run(Q, { c: r.chestId })), 'anonymous reads').toBe(live(m) && m.isPublic ? 'OK' : 'NOT_FOUND');
  for (const t of [m.shareToken, ...m.staleShareTokens.slice(-2)]) {
    if (!t) continue;
    const viaLink = await r.run(`query($t: String!) { chestByShareToken(token: $t) { id } }`, { t });
    expect(code(viaLink), 'share link').toBe(live(m) && t === m.shareToken ? 'OK' : 'NOT_FOUND');
  }
  for (const c of m.contributions) {
    const mineC = await r.run(`query($g: String!) { contributionByGuestToken(guestToken: $g) { status } }`, { g: c.guestToken });
    expect(code(mineC)).toBe(live(m) ? 'OK' : 'NOT_FOUND');
    if (live(m)) expect((mineC.data as any).contributionByGuestToken.status).toBe(c.status);
  }
}

describe('access control against a model (fast-check)', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm, { perClientPerHour: 100_000, perLinkPerHour: 100_000 });
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  it('every actor sees what the model says after every step', { timeout: 240_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(fc.commands(commands, { maxCommands: 14 }), async (cmds) => {
        const em = db.orm.em.fork();
        const people = { A: await makeAccount(em), B: await makeAccount(em), C: await makeAccount(em) } as Record<Who, { account: Account; token: string }>;
        const made = await gql.run(`mutation { createChest(input: { personName: "Model" }) { id } }`, {}, { token: people.A.token });
        const real: Real = {
          run: (q, v, o) => gql.run(q, v, o ?? {}),
          token: { A: people.A.token, B: people.B.token, C: people.C.token },
          email: { A: people.A.account.email, B: people.B.account.email, C: people.C.account.email },
          accountId: { A: people.A.account.id, B: people.B.account.id, C: people.C.account.id },
          chestId: (made.data as any).createChest.id,
          db,
        };
        const model: Model = {
          roles: { A: 'OWNER', B: null, C: null },
          isPublic: false,
          deleted: false,
          allowContributions: false,
          shareToken: null,
          staleShareTokens: [],
          contributionLink: null,
          contributions: [],
        };
        await fc.asyncModelRun(() => ({ model, real }), cmds);
      }),
      { numRuns: 25 },
    );
  });
});
