import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Account } from '../src/db/entities/index.js';
import { Chest, Contribution } from '../src/db/entities/index.js';
import { ChestRole, ContributionStatus, FileType, ProcessingStatus, StoryStatus } from '../src/db/enums.js';
import { createTestDatabase, type TestDatabase } from './support/db.js';
import { addMember, makeAccount, makeAsset, makeChest, makeContribution, makeStory } from './support/factories.js';
import { createGraphQLRunner, type GqlResult } from './support/graphql.js';

/**
 * Every query, mutation and nested field × every kind of caller × every state of chest: each cell
 * is ALLOWED or the one code the rules give. The expectations come from the rules, written once
 * below (`expected`), not from running the code.
 */
type Actor = 'anonymous' | 'shareHolder' | 'guest' | 'viewer' | 'editor' | 'owner' | 'otherAccount';
type State = 'private' | 'public' | 'deleted' | 'revokedLink';
type Outcome = 'ALLOWED' | 'NOT_FOUND' | 'FORBIDDEN' | 'UNAUTHENTICATED';
const ACTORS: Actor[] = ['anonymous', 'shareHolder', 'guest', 'viewer', 'editor', 'owner', 'otherAccount'];
const STATES: State[] = ['private', 'public', 'deleted', 'revokedLink'];
type Need = 'read' | 'member' | 'moderate' | 'edit' | 'manage' | 'restore';

interface Fixture {
  chestId: string;
  assetId: string;
  contributionId: string;
  publishedStoryId: string;
  draftStoryId: string;
  shareToken: string;
  guestToken: string;
  tokens: Record<'viewer' | 'editor' | 'owner' | 'otherAccount', string>;
  otherEmail: string;
}

interface Op {
  name: string;
  need: Need;
  /** The GraphQL document; nested reads go through `chestByShareToken` for share holders. */
  doc: (f: Fixture, viaShare: boolean) => { query: string; variables: Record<string, unknown> };
  /** Mutations change the chest: each cell gets a fresh fixture. */
  mutates?: boolean;
  /** For approve/reject: NOT_FOUND for anyone who cannot moderate, FORBIDDEN for editors. */
  contribution?: boolean;
  /** About something only members see (a draft story): NOT_FOUND for everyone else. */
  membersOnly?: boolean;
}

const read = (field: string): Op['doc'] => (f, viaShare) =>
  viaShare
    ? { query: `query($t: String!) { chestByShareToken(token: $t) { ${field} } }`, variables: { t: f.shareToken } }
    : { query: `query($id: ID!) { chest(id: $id) { ${field} } }`, variables: { id: f.chestId } };

const OPS: Op[] = [
  { name: 'chest', need: 'read', doc: read('id personName') },
  { name: 'chest.assets', need: 'read', doc: read('assets { totalCount edges { node { id } } }') },
  { name: 'chest.summary', need: 'read', doc: read('summary { totalAssets }') },
  { name: 'chest.stories', need: 'read', doc: read('stories { edges { node { id } } }') },
  { name: 'chest.heroImage', need: 'read', doc: read('heroImage { id }') },
  { name: 'chest.members', need: 'member', doc: read('members { role }') },
  { name: 'chest.contributions', need: 'moderate', doc: read('contributions { edges { node { id } } }') },
  { name: 'chest.links', need: 'manage', doc: read('links { shareLinkActive }') },
  { name: 'chest.publishedStory', need: 'read', doc: read('publishedStory { id }') },
  {
    name: 'chestEvents',
    need: 'read',
    doc: (f) => ({ query: `query($id: ID!) { chestEvents(chestId: $id) { lastSeq events { seq } } }`, variables: { id: f.chestId } }),
  },
  { name: 'asset(id)', need: 'read', doc: (f) => ({ query: `query($id: ID!) { asset(id: $id) { id } }`, variables: { id: f.assetId } }) },
  {
    name: 'updateChest(personName)',
    need: 'edit',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!) { updateChest(id: $id, input: { personName: "Renamed" }) { id } }`, variables: { id: f.chestId } }),
  },
  {
    name: 'updateChest(isPublic)',
    need: 'manage',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!) { updateChest(id: $id, input: { isPublic: true }) { id } }`, variables: { id: f.chestId } }),
  },
  { name: 'deleteChest', need: 'manage', mutates: true, doc: (f) => ({ query: `mutation($id: ID!) { deleteChest(id: $id) { id } }`, variables: { id: f.chestId } }) },
  { name: 'restoreChest', need: 'restore', mutates: true, doc: (f) => ({ query: `mutation($id: ID!) { restoreChest(id: $id) { id } }`, variables: { id: f.chestId } }) },
  {
    name: 'createShareLink',
    need: 'manage',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!) { createShareLink(chestId: $id) { expiresAt } }`, variables: { id: f.chestId } }),
  },
  { name: 'revokeShareLink', need: 'manage', mutates: true, doc: (f) => ({ query: `mutation($id: ID!) { revokeShareLink(chestId: $id) { id } }`, variables: { id: f.chestId } }) },
  {
    name: 'createContributionLink',
    need: 'manage',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!) { createContributionLink(chestId: $id) { expiresAt } }`, variables: { id: f.chestId } }),
  },
  {
    name: 'inviteMember',
    need: 'manage',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!, $e: String!) { inviteMember(chestId: $id, email: $e, role: VIEWER) { role } }`, variables: { id: f.chestId, e: f.otherEmail } }),
  },
  {
    name: 'approveContribution',
    need: 'manage',
    mutates: true,
    contribution: true,
    doc: (f) => ({ query: `mutation($id: ID!) { approveContribution(id: $id) { status } }`, variables: { id: f.contributionId } }),
  },
  { name: 'story(published)', need: 'read', doc: (f) => ({ query: `query($id: ID!) { story(id: $id) { title } }`, variables: { id: f.publishedStoryId } }) },
  { name: 'story(draft)', need: 'member', membersOnly: true, doc: (f) => ({ query: `query($id: ID!) { story(id: $id) { title } }`, variables: { id: f.draftStoryId } }) },
  { name: 'storyVersions', need: 'member', doc: (f) => ({ query: `query($id: ID!) { storyVersions(storyId: $id) { version } }`, variables: { id: f.publishedStoryId } }) },
  {
    name: 'generateStory',
    need: 'edit',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!) { generateStory(input: { chestId: $id, style: BRIEF }) { status } }`, variables: { id: f.chestId } }),
  },
  {
    name: 'editStory',
    need: 'edit',
    mutates: true,
    doc: (f) => ({ query: `mutation($id: ID!) { editStory(storyId: $id, input: { title: "Edited" }) { version } }`, variables: { id: f.publishedStoryId } }),
  },
  {
    name: 'publishStory(draft)',
    need: 'manage',
    mutates: true,
    membersOnly: true,
    doc: (f) => ({ query: `mutation($id: ID!) { publishStory(storyId: $id) { published } }`, variables: { id: f.draftStoryId } }),
  },
  {
    name: 'updateMemory',
    need: 'edit',
    mutates: true,
    doc: (f) => ({
      query: `mutation($id: ID!) { updateMemory(assetId: $id, input: { caption: "On the steps", place: "Whitby", dateTaken: "1962-06-01", tags: ["holiday"] }) { id place } }`,
      variables: { id: f.assetId },
    }),
  },
  {
    name: 'createUpload',
    need: 'edit',
    mutates: true,
    doc: (f) => ({
      query: `mutation($id: ID!) { createUpload(input: { chestId: $id, filename: "a.jpg", size: 10, mimeType: "image/jpeg" }) { url } }`,
      variables: { id: f.chestId },
    }),
  },
];

const ROLE: Partial<Record<Actor, Need[]>> = {
  owner: ['read', 'member', 'moderate', 'edit', 'manage', 'restore'],
  editor: ['read', 'member', 'moderate', 'edit'],
  viewer: ['read', 'member'],
};

/** The rules of README's role table, as a function. */
function expected(op: Op, actor: Actor, state: State): Outcome {
  const signedIn = actor === 'viewer' || actor === 'editor' || actor === 'owner' || actor === 'otherAccount';
  const roleNeeds = ROLE[actor] ?? [];
  if (op.need === 'restore') {
    if (state !== 'deleted') return actor === 'owner' ? 'ALLOWED' /* CONFLICT, checked below */ : canRead(actor, state) ? (signedIn ? 'FORBIDDEN' : 'UNAUTHENTICATED') : 'NOT_FOUND';
    return actor === 'owner' ? 'ALLOWED' : 'NOT_FOUND';
  }
  if (state === 'deleted') return 'NOT_FOUND';
  if (op.contribution) return roleNeeds.includes('moderate') ? (roleNeeds.includes('manage') ? 'ALLOWED' : 'FORBIDDEN') : 'NOT_FOUND';
  if (op.membersOnly && !roleNeeds.includes('member')) return 'NOT_FOUND';
  if (roleNeeds.includes(op.need)) return 'ALLOWED';
  if (!canRead(actor, state)) return 'NOT_FOUND';
  if (op.need === 'read') return 'ALLOWED';
  return signedIn ? 'FORBIDDEN' : 'UNAUTHENTICATED';
}

function canRead(actor: Actor, state: State): boolean {
  if (state === 'deleted') return false;
  if (actor === 'owner' || actor === 'editor' || actor === 'viewer') return true;
  if (state === 'public') return true;
  return actor === 'shareHolder' && state !== 'revokedLink';
}

describe('authorization matrix', () => {
  let db: TestDatabase;
  let gql: Awaited<ReturnType<typeof createGraphQLRunner>>;
  let people: Record<'viewer' | 'editor' | 'owner' | 'otherAccount', { account: Account; token: string }>;
  const shared = new Map<State, Fixture>();

  beforeAll(async () => {
    db = await createTestDatabase('postgres');
    gql = await createGraphQLRunner(db.orm, { perClientPerHour: 10_000, perLinkPerHour: 10_000 });
    const em = db.orm.em.fork();
    people = { viewer: await makeAccount(em), editor: await makeAccount(em), owner: await makeAccount(em), otherAccount: await makeAccount(em) };
    for (const state of STATES) shared.set(state, await fixture(state));
  });
  afterAll(async () => {
    await gql?.stop();
    await db?.close();
  });

  /** A chest in the given state with its people, a located photo, stories, a pending contribution and links. */
  async function fixture(state: State): Promise<Fixture> {
    const em = db.orm.em.fork();
    const chest = await makeChest(em, { isPublic: state === 'public', allowContributions: true }, people.owner.account);
    await addMember(em, chest, people.editor.account, ChestRole.EDITOR);
    await addMember(em, chest, people.viewer.account, ChestRole.VIEWER);
    const asset = await makeAsset(em, chest, { fileType: FileType.IMAGE, location: { latitude: 48.85, longitude: 2.35 }, status: ProcessingStatus.COMPLETE });
    chest.heroImage = asset;
    await em.flush();
    const published = await makeStory(em, chest, { published: true, title: 'Published', status: StoryStatus.READY });
    const draft = await makeStory(em, chest, { published: false, title: 'Draft', status: StoryStatus.READY });
    const owner = people.owner.token;
    const share = (await gql.run(`mutation($id: ID!) { createShareLink(chestId: $id) { token } }`, { id: chest.id }, { token: owner })).data!.createShareLink.token;
    const link = (await gql.run(`mutation($id: ID!) { createContributionLink(chestId: $id) { token } }`, { id: chest.id }, { token: owner })).data!.createContributionLink.token;
    const sub = (await gql.run(`mutation($t: String!) { submitContribution(token: $t, input: { contributorName: "G" }) { guestToken contribution { id } } }`, { t: link }))
      .data!.submitContribution;
    if (state === 'revokedLink') await gql.run(`mutation($id: ID!) { revokeShareLink(chestId: $id) { id } }`, { id: chest.id }, { token: owner });
    if (state === 'deleted') await em.nativeUpdate(Chest, { id: chest.id }, { deletedAt: new Date() });
    return {
      chestId: chest.id,
      assetId: asset.id,
      contributionId: sub.contribution.id,
      publishedStoryId: published.id,
      draftStoryId: draft.id,
      shareToken: share,
      guestToken: sub.guestToken,
      tokens: { viewer: people.viewer.token, editor: people.editor.token, owner, otherAccount: people.otherAccount.token },
      otherEmail: people.otherAccount.account.email,
    };
  }

  async function attempt(op: Op, actor: Actor, f: Fixture): Promise<GqlResult> {
    const viaShare = actor === 'shareHolder';
    // Half the nested reads go through chestByShareToken, the rest by id with the header.
    const { query, variables } = op.doc(f, viaShare && op.name.length % 2 === 0);
    const token = actor in f.tokens ? f.tokens[actor as keyof Fixture['tokens']] : null;
    // Share holders send their link's token with every request (X-Share-Token).
    return gql.run(query, variables, { token, shareToken: viaShare ? f.shareToken : null });
  }

  const outcome = (res: GqlResult): string => (res.errors?.length ? String(res.errors[0]!.extensions?.code) : 'ALLOWED');

  for (const op of OPS) {
    for (const state of STATES) {
      for (const actor of ACTORS) {
        const want = expected(op, actor, state);
        it(`${actor} × ${state} · ${op.name} → ${want}`, async () => {
          const f = op.mutates ? await fixture(state) : shared.get(state)!;
          const res = await attempt(op, actor, f);
          const got = outcome(res);
          if (op.need === 'restore' && state !== 'deleted' && actor === 'owner') expect(got).toBe('CONFLICT');
          else expect(got).toBe(want);
          // Never a stack, a storage key or a token hash, allowed or not.
          expect(JSON.stringify(res)).not.toMatch(/"stack|storageKey|tokenHash|chests\/[0-9a-f-]{36}\/originals/);
        });
      }
    }
  }

  it('invariant: every denial on a chest the caller cannot read is NOT_FOUND', () => {
    for (const op of OPS)
      for (const state of STATES)
        for (const actor of ACTORS) {
          const want = expected(op, actor, state);
          if (want !== 'ALLOWED' && !canRead(actor, state) && !(op.contribution && actor === 'editor')) expect(want, `${actor} ${state} ${op.name}`).toBe('NOT_FOUND');
        }
  });

  describe('what readers see inside a chest', () => {
    const cases: [Actor, State, { location: boolean; drafts: boolean }][] = [
      ['owner', 'private', { location: true, drafts: true }],
      ['editor', 'private', { location: true, drafts: true }],
      ['viewer', 'private', { location: true, drafts: true }],
      ['shareHolder', 'private', { location: false, drafts: false }],
      ['anonymous', 'public', { location: false, drafts: false }],
      ['otherAccount', 'public', { location: false, drafts: false }],
    ];
    it.each(cases)('%s × %s: places %s', async (actor, state, want) => {
      const f = shared.get(state)!;
      const op: Op = { name: 'inside', need: 'read', doc: read('assets { edges { node { location { latitude } } } } stories { edges { node { title } } }') };
      const res = await attempt(op, actor, f);
      expect(res.errors).toBeUndefined();
      const node = (res.data as any)[actor === 'shareHolder' ? 'chestByShareToken' : 'chest'];
      expect(node.assets.edges[0].node.location !== null).toBe(want.location);
      expect(node.stories.edges.map((e: any) => e.node.title).sort()).toEqual(want.drafts ? ['Draft', 'Published'] : ['Published']);
    });

    it('a guest sees their own contribution by token and nothing of the chest', async () => {
      const f = shared.get('private')!;
      const own = await gql.run(`query($g: String!) { contributionByGuestToken(guestToken: $g) { status } }`, { g: f.guestToken });
      expect(own.data).toEqual({ contributionByGuestToken: { status: 'PENDING' } });
      expect(outcome(await gql.run(`query($id: ID!) { chest(id: $id) { id } }`, { id: f.chestId }))).toBe('NOT_FOUND');
      const em = db.orm.em.fork();
      expect((await em.findOneOrFail(Contribution, f.contributionId)).status).toBe(ContributionStatus.PENDING);
    });
  });
});
